import Foundation
import ProvisioningContract
import Testing

/// The command parser against Foundation's JSONDecoder, which it replaced for speed.
@Suite("JSON parser", .timeLimit(.minutes(10)))
struct JSONParserTests {
    static let samples: [String] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/samples.jsonl")
        return ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.hasPrefix("{") }.map(String.init)
    }()

    static let valid = [
        #"{}"#, #"[]"#, #" { "a" : [ 1 , -2 , 3.5 , -0.25e2 , 1E3 , 0 , true , false , null ] } "#,
        #"{"s":"quote \" backslash \\ slash \/ controls \b\f\n\r\t unicode \u00e9 \u4e2d surrogate \ud83d\ude00 raw é 中 😀"}"#,
        #"{"big":123456789012345678901234567890,"small":1e-300,"int":9223372036854775807,"neg":-9223372036854775808,"whole":19.0}"#,
        #"{"dup":1,"dup":2}"#, #""just a string""#, #"42"#, #"[[[[[]]]]]"#,
    ]

    static let invalid = [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "01", "1.", ".5", "-", "+1", "1e", "1e+", "tru", "nul",
        "\"unterminated", "\"bad escape \\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"tab\tinside\"", "[1] [2]", "{\"a\" 1}",
        "NaN", "Infinity", "1e400",
    ]

    @Test("valid JSON parses to what JSONDecoder made of it")
    func agreesWithFoundation() throws {
        for text in Self.valid + Self.samples {
            let ours = try JSONParser.parse(Array(text.utf8))
            let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(ours == foundation, "\(text)")
        }
        #expect(Self.samples.count > 30)
    }

    @Test("invalid JSON is refused, as JSONDecoder refuses it (and trailing commas, which it let through)")
    func refuses() {
        // RFC 8259 has no trailing commas; Foundation's decoder tolerates them, this parser does not.
        let foundationTolerates: Set<String> = ["[1,]", "{\"a\":1,}"]
        for text in Self.invalid {
            #expect((try? JSONParser.parse(Array(text.utf8))) == nil, "\(text)")
            if !foundationTolerates.contains(text) {
                #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) == nil, "Foundation accepts \(text)")
            }
        }
    }

    @Test("deep nesting is refused, not a stack overflow")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect((try? JSONParser.parse(Array(deep.utf8))) == nil)
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
    }
}
