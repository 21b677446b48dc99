/// pydantic v2's messages, so our 422s read like the FastAPI seed's.
enum Messages {
    static let missing = "Field required"
    static let stringType = "Input should be a valid string"
    static let intType = "Input should be a valid integer"
    static let intParsing = "Input should be a valid integer, unable to parse string as an integer"
    static let intFromFloat = "Input should be a valid integer, got a number with a fractional part"
    static let floatType = "Input should be a valid number"
    static let floatParsing = "Input should be a valid number, unable to parse string as a number"
    static let boolType = "Input should be a valid boolean"
    static let boolParsing = "Input should be a valid boolean, unable to interpret input"
    static let listType = "Input should be a valid list"
    static let stringNUL = "String should not contain NUL characters"

    static func stringTooShort(_ min: Int) -> String {
        "String should have at least \(min) character\(min == 1 ? "" : "s")"
    }

    static func stringTooLong(_ max: Int) -> String {
        "String should have at most \(max) character\(max == 1 ? "" : "s")"
    }

    static func listTooShort(_ min: Int, actual: Int) -> String {
        "List should have at least \(min) item\(min == 1 ? "" : "s") after validation, not \(actual)"
    }

    static func listTooLong(_ max: Int, actual: Int) -> String {
        "List should have at most \(max) item\(max == 1 ? "" : "s") after validation, not \(actual)"
    }
}
