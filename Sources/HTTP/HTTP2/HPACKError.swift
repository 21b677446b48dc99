/// A field block HPACK cannot decode (RFC 7541): a COMPRESSION_ERROR for the connection,
/// except ``Code/headerListTooLarge``, which the decoder reports only after it has read the
/// whole block (so its dynamic table stays in step with the peer's).
public struct HPACKError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        private enum Kind: Hashable, Sendable {
            case truncated, integerOverflow, invalidIndex, invalidHuffman, tableSizeUpdateTooLarge
            case tableSizeUpdateMisplaced, headerListTooLarge
        }
        private let kind: Kind

        /// The block ends inside a representation.
        public static let truncated = Code(kind: .truncated)
        /// An integer larger than this decoder accepts.
        public static let integerOverflow = Code(kind: .integerOverflow)
        /// Index 0, or past the static and dynamic tables.
        public static let invalidIndex = Code(kind: .invalidIndex)
        /// A Huffman string with EOS, padding over 7 bits, or padding that is not EOS's prefix.
        public static let invalidHuffman = Code(kind: .invalidHuffman)
        /// A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we announced.
        public static let tableSizeUpdateTooLarge = Code(kind: .tableSizeUpdateTooLarge)
        /// A dynamic table size update after the first field of a block (RFC 7541 §4.2).
        public static let tableSizeUpdateMisplaced = Code(kind: .tableSizeUpdateMisplaced)
        /// The decoded fields exceed the header list limit (the HPACK bomb's mark).
        public static let headerListTooLarge = Code(kind: .headerListTooLarge)
    }

    public let code: Code

    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .truncated: "HPACK: block ends inside a representation"
        case .integerOverflow: "HPACK: integer too large"
        case .invalidIndex: "HPACK: index outside the tables"
        case .invalidHuffman: "HPACK: invalid Huffman string"
        case .tableSizeUpdateTooLarge: "HPACK: dynamic table size update above the limit"
        case .tableSizeUpdateMisplaced: "HPACK: dynamic table size update after a field"
        default: "HPACK: decoded header list larger than the limit"
        }
    }
}
