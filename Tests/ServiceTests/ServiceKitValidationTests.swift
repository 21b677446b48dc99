import HTTP
import Testing

@testable import ServiceKit

@Suite(.timeLimit(.minutes(5))) struct ServiceKitValidationTests {
    /// Compares a 422's body with FastAPI's, as JSON (key order free).
    func expectDetail(_ error: ServiceError, _ fastAPI: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error.status == .unprocessableEntity, sourceLocation: sourceLocation)
        let ours = try? JSONParser.parse(error.jsonBody)
        let theirs = try? JSONParser.parse(fastAPI)
        #expect(ours != nil && ours == theirs, "\(String(decoding: error.jsonBody, as: UTF8.self))",
                sourceLocation: sourceLocation)
    }

    func userBody(_ text: String) throws -> (String, String, String) {
        var body = JSONFields(try HTTPServerRequest.decodeJSONObject(Array(text.utf8)))
        let name = body.string("name", length: 1...100, trimming: true)
        let email = body.email("email")
        let password = body.string("password", length: 6...128, sensitive: true)
        return try body.finish(name, email, password)
    }

    @Test func validBodyUnwraps() throws {
        let (name, email, password) = try userBody(#"{"name":"  Ada ","email":"ada@example.com","password":"pass123","x":1}"#)
        #expect(name == "Ada")
        #expect(email == "ada@example.com")
        #expect(password == "pass123")
    }

    @Test func everyProblemAtOnceInFastAPIShape() throws {
        do {
            _ = try userBody(#"{"name":"","email":"nope","password":"abc"}"#)
            Issue.record("expected a 422")
        } catch let error as ServiceError {
            // FastAPI 0.115 / pydantic 2 output for the same model, minus `input` for the password
            // (we never echo a password) and with email-validator's reason.
            expectDetail(error, #"""
                {"detail":[
                 {"type":"string_too_short","loc":["body","name"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}},
                 {"type":"value_error","loc":["body","email"],"msg":"value is not a valid email address: An email address must have an @-sign.","input":"nope","ctx":{"reason":"An email address must have an @-sign."}},
                 {"type":"string_too_short","loc":["body","password"],"msg":"String should have at least 6 characters","ctx":{"min_length":6}}
                ]}
                """#)
            #expect(!String(decoding: error.jsonBody, as: UTF8.self).contains("abc"))
        }
    }

    @Test func missingAndWrongTypes() throws {
        do {
            _ = try userBody(#"{"name":5,"password":null}"#)
            Issue.record("expected a 422")
        } catch let error as ServiceError {
            expectDetail(error, #"""
                {"detail":[
                 {"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":5},
                 {"type":"missing","loc":["body","email"],"msg":"Field required"},
                 {"type":"string_type","loc":["body","password"],"msg":"Input should be a valid string"}
                ]}
                """#)
        }
    }

    @Test func numbersAreStrictAndBounded() throws {
        var body = JSONFields(try HTTPServerRequest.decodeJSONObject(Array(
            #"{"year":"2010","rating":10.5,"count":2.5,"ok":2010.0,"genre":"x","director":null,"flag":"yes"}"#.utf8)))
        let year = body.int("year", range: 1878...2100)
        let rating = body.optionalDouble("rating", range: 0...10, nullable: true)
        let count = body.int("count")
        let ok = body.int("ok", range: 1878...2100)
        let director = body.optionalString("director", length: 0...200, nullable: true)
        let flag = body.bool("flag")
        let low = body.int("missing_is_reported")
        #expect(year == nil && rating.value == nil && count == nil && flag == nil && low == nil)
        #expect(ok == 2010)
        if case .null = director {} else { Issue.record("director should be null") }
        expectDetail(ServiceError.validation(body.issues), #"""
            {"detail":[
             {"type":"int_type","loc":["body","year"],"msg":"Input should be a valid integer","input":"2010"},
             {"type":"less_than_equal","loc":["body","rating"],"msg":"Input should be less than or equal to 10.0","input":10.5,"ctx":{"le":10.0}},
             {"type":"int_from_float","loc":["body","count"],"msg":"Input should be a valid integer, got a number with a fractional part","input":2.5},
             {"type":"bool_type","loc":["body","flag"],"msg":"Input should be a valid boolean","input":"yes"},
             {"type":"missing","loc":["body","missing_is_reported"],"msg":"Field required"}
            ]}
            """#)
    }

    @Test func lowerBoundsAndLongStrings() throws {
        var body = JSONFields(try HTTPServerRequest.decodeJSONObject(Array(
            #"{"year":1800,"title":"\#(String(repeating: "é", count: 201))"}"#.utf8)))
        _ = body.int("year", range: 1878...2100)
        _ = body.string("title", length: 1...200)
        #expect(body.issues.map(\.kind) == [.greaterThanEqual, .stringTooLong])
        #expect(body.issues[0].message == "Input should be greater than or equal to 1878")
        #expect(body.issues[1].message == "String should have at most 200 characters")
        #expect(body.issues[1].context == JSONObject(["max_length": .int(200)]))
    }

    @Test func intListBoundsAndElements() throws {
        func issues(_ text: String) throws -> [ValidationIssue] {
            var body = JSONFields(try HTTPServerRequest.decodeJSONObject(Array(text.utf8)))
            _ = body.intList("movie_ids", count: 1...1000, range: 1...Int64.max)
            return body.issues
        }
        #expect(try issues(#"{"movie_ids":[1,2,3]}"#).isEmpty)
        let empty = try issues(#"{"movie_ids":[]}"#)
        #expect(empty.map(\.kind) == [.tooShort])
        #expect(empty[0].message == "List should have at least 1 item after validation, not 0")
        let long = try issues("{\"movie_ids\":[" + Array(repeating: "1", count: 1001).joined(separator: ",") + "]}")
        #expect(long[0].message == "List should have at most 1000 items after validation, not 1001")
        let bad = try issues(#"{"movie_ids":[1,"2",0]}"#)
        #expect(bad.map(\.location) == [["body", "movie_ids", 1], ["body", "movie_ids", 2]])
        #expect(bad.map(\.kind) == [.intType, .greaterThanEqual])
        #expect(try issues(#"{"movie_ids":"1"}"#).map(\.kind) == [.listType])
    }

    @Test(arguments: [
        ("a@b.co", true), ("first.last+tag@sub.example.org", true), ("UPPER@EXAMPLE.COM", true),
        ("nope", false), ("@b.co", false), ("a@", false), ("a@b", false), ("a b@c.de", false), ("a@@b.co", false),
        ("a@-b.co", false), ("a@b..co", false), ("a@b.c0", false), (".a@b.co", false),
        (String(repeating: "a", count: 250) + "@b.co", false),
    ])
    func emailAddresses(_ address: String, _ valid: Bool) {
        #expect((EmailAddress.problem(address) == nil) == valid)
    }

    @Test func queryParametersAndPagination() throws {
        let query = QueryParameters("a=1&b=x%20y+z&a=2&empty=&flag&bad=%zz&utf=%C3%A9")
        #expect(query["a"] == "2")
        #expect(query["b"] == "x y z")
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query["bad"] == "%zz")
        #expect(query["utf"] == "é")

        func page(_ q: String) throws(ServiceError) -> Pagination {
            var fields = ParameterFields(QueryParameters(q))
            let page = Pagination.read(from: &fields)
            return try fields.finish(page)
        }
        #expect(try page("") == Pagination(limit: 100, offset: 0))
        #expect(try page("limit=1000&offset=5") == Pagination(limit: 1000, offset: 5))
        #expect(try page("limit=1") == Pagination(limit: 1, offset: 0))
        do {
            _ = try page("limit=0&offset=-1")
            Issue.record("expected a 422")
        } catch {
            expectDetail(error, #"""
                {"detail":[
                 {"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}},
                 {"type":"greater_than_equal","loc":["query","offset"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}
                ]}
                """#)
        }
        #expect(throws: ServiceError.self) { try page("limit=1001") }
        let notANumber = #expect(throws: ServiceError.self) { try page("limit=ten") }
        if let notANumber {
            expectDetail(notANumber, #"""
                {"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}]}
                """#)
        }
        var response = HTTPServerResponse.json(.ok, Array("[]".utf8))
        response.setTotalCount(42)
        #expect(response.headers["X-Total-Count"] == "42")
    }

    @Test func bodyDecodingStatuses() {
        func status(_ text: String) -> Int {
            do {
                _ = try HTTPServerRequest.decodeJSONObject(Array(text.utf8))
                return 200
            } catch {
                return error.code.status
            }
        }
        #expect(status("{}") == 200)
        #expect(status("") == 422)
        #expect(status("  \n") == 422)
        #expect(status("{") == 400)
        #expect(status("[1]") == 400)
        #expect(status("\"x\"") == 400)
        #expect(status("{\"a\":1} x") == 400)
        #expect(HTTPServerRequest.isJSONMediaType("application/json"))
        #expect(HTTPServerRequest.isJSONMediaType("Application/JSON; charset=utf-8"))
        #expect(HTTPServerRequest.isJSONMediaType("application/merge-patch+json"))
        #expect(!HTTPServerRequest.isJSONMediaType("application/x-www-form-urlencoded"))
        #expect(!HTTPServerRequest.isJSONMediaType("text/json"))
        #expect(!HTTPServerRequest.isJSONMediaType("application/jsonx"))
    }
}
