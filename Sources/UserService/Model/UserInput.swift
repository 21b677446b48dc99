import ServiceKit

/// The validation rules of API.md's Users section, in one place for create, update and login.
///
/// - name: 1–100 characters (Unicode scalars, like Python's `len`) after trimming;
/// - email: a valid address of at most 254 characters, trimmed, then lower-cased: the
///   service stores and compares emails in lower case, so `Ann@X.org` and `ann@x.org`
///   are one account;
/// - password: 6–128 characters, never trimmed, never echoed in a 422 (`sensitive`).
enum UserRules {
    static let nameLength = 1...100
    static let passwordLength = 6...128
    static let fields = ["name", "email", "password"]
}

/// The body of `POST /api/users`.
struct NewUser: Sendable {
    var name: String
    var email: String
    var password: String

    /// - Throws: `ServiceError` 422 listing every problem at once.
    init(_ object: JSONObject) throws(ServiceError) {
        var body = JSONFields(object)
        let name = body.string("name", length: UserRules.nameLength, trimming: true)
        let email = body.email("email")
        let password = body.string("password", length: UserRules.passwordLength, sensitive: true)
        let (n, e, p) = try body.finish(name, email, password)
        self.name = n
        self.email = e.lowercased()
        self.password = p
    }
}

/// The body of `PUT`/`PATCH /api/users/{id}`: any non-empty subset of the three fields,
/// plus `current_password` whenever `email` or `password` is among them: a token alone
/// (one left on a shared machine, one stolen) must not be enough to take the account over.
struct UserUpdate: Sendable {
    var name: String?
    var email: String?
    var password: String?
    var currentPassword: String?

    /// Whether the update changes a credential, and so needs ``currentPassword``.
    var changesCredentials: Bool { email != nil || password != nil }

    /// - Throws: `ServiceError` 422 for a bad field, or for a body naming none of them
    ///   (`{"type":"value_error","loc":["body"],...}`, as a pydantic model validator would).
    init(_ object: JSONObject) throws(ServiceError) {
        var body = JSONFields(object)
        if !body.containsAny(of: UserRules.fields) {
            body.report(ValidationIssue(
                .valueError, location: ["body"],
                message: "Value error, at least one of name, email, password must be provided",
                context: JSONObject(["error": .string("at least one of name, email, password must be provided")])))
        }
        name = body.optionalString("name", length: UserRules.nameLength, trimming: true).value
        email = body.optionalEmail("email").value?.lowercased()
        password = body.optionalString("password", length: UserRules.passwordLength, sensitive: true).value
        currentPassword = body.optionalString("current_password", length: 1...1024, sensitive: true).value
        if body.object["email"] != nil || body.object["password"] != nil, body.object["current_password"] == nil {
            body.report(.missing, at: "current_password", message: "Field required")
        }
        try body.finish()
    }
}

/// The body of `POST /api/auth/login`.
///
/// Deliberately looser than sign-up: the email only has to be a string (an address
/// that could never have registered simply fails to log in, with the same 401 as any
/// other), and the password only a string of at most 1024 characters — a bound that
/// keeps scrypt's input small without telling a caller which passwords were ever valid.
struct LoginRequest: Sendable {
    var email: String
    var password: String

    /// - Throws: `ServiceError` 422 for missing or non-string fields.
    init(_ object: JSONObject) throws(ServiceError) {
        var body = JSONFields(object)
        let email = body.string("email", length: 1...320, trimming: true)
        let password = body.string("password", length: 1...1024, sensitive: true)
        let (e, p) = try body.finish(email, password)
        self.email = e.lowercased()
        self.password = p
    }
}
