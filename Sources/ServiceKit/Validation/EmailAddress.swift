/// A pragmatic email address check in the spirit of the `email-validator` package that
/// pydantic's `EmailStr` uses: one `@`, a local part of 1–64 characters without spaces or
/// controls, a domain of dot-separated labels (letters, digits, hyphens, not at the ends)
/// with an alphabetic top-level label, and at most 254 characters in all.
public enum EmailAddress {
    /// nil when `address` is acceptable, else the reason (email-validator's wording).
    public static func problem(_ address: String) -> String? {
        let scalars = Array(address.unicodeScalars)
        if scalars.count > 254 { return "The email address is too long (\(scalars.count - 254) characters too many)." }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        if parts.count < 2 { return "An email address must have an @-sign." }
        if parts.count > 2 { return "The email address is not valid. It must have exactly one @-sign." }
        let local = parts[0]
        let domain = parts[1]
        if local.isEmpty { return "There must be something before the @-sign." }
        if domain.isEmpty { return "There must be something after the @-sign." }
        if local.unicodeScalars.count > 64 { return "The email address is too long before the @-sign." }
        for scalar in local.unicodeScalars {
            if scalar.value <= 0x20 || scalar.value == 0x7F || "\"(),:;<>[\\]".unicodeScalars.contains(scalar) {
                return "The email address contains invalid characters before the @-sign."
            }
        }
        if local.hasPrefix(".") || local.hasSuffix(".") || local.contains("..") {
            return "The email address contains a period in an invalid position."
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count < 2 { return "The part after the @-sign is not valid. It should have a period." }
        for label in labels {
            if label.isEmpty { return "An email address cannot have two periods in a row." }
            if label.utf8.count > 63 { return "The part after the @-sign is too long." }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                return "An email address cannot have a hyphen immediately before or after a period."
            }
            for byte in label.utf8 {
                let ok = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                    || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "-")
                if !ok { return "The part after the @-sign contains invalid characters." }
            }
        }
        if let top = labels.last, !top.utf8.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) || top.count < 2 {
            return "The part after the @-sign is not valid. It is not within a valid top-level domain."
        }
        return nil
    }
}
