// WireJSON's writer: keys in CodingKeys order, compact, the escaping and
// numbers tcpeek has always written; what it writes reads back the same.
import Foundation
import Testing
@testable import TCPeekWire

@Suite("WireJSON writer")
struct WireEncoderTests {
    private struct Nested: Codable, Equatable {
        var zulu: String
        var alpha: [Int]
        var inner: Inner?
        var empty: [String]

        struct Inner: Codable, Equatable {
            var yes: Bool
            var ratio: Double
        }
    }

    @Test("keys come in declaration order, not sorted or hashed; nil is null, synthesized code or not")
    func keyOrder() throws {
        let value = Nested(zulu: "z", alpha: [3, 1, 2], inner: .init(yes: true, ratio: 0.5), empty: [])
        let text = WireJSON.text(value)
        #expect(text == #"{"zulu":"z","alpha":[3,1,2],"inner":{"yes":true,"ratio":0.5},"empty":[]}"#)
        #expect(try WireJSON.decode(Nested.self, from: text) == value)
        let without = Nested(zulu: "", alpha: [], inner: nil, empty: ["a"])
        #expect(WireJSON.text(without) == #"{"zulu":"","alpha":[],"inner":null,"empty":["a"]}"#)
        #expect(try WireJSON.decode(Nested.self, from: WireJSON.text(without)) == without)
    }

    @Test("strings: quote, backslash and control characters escaped, slash and non-ASCII kept", arguments: [
        ("plain", #""plain""#),
        ("a\"b\\c", #""a\"b\\c""#),
        ("tab\tnl\ncr\r", #""tab\tnl\ncr\r""#),
        ("\u{01}\u{08}\u{0c}\u{1f}", #""\u0001\u0008\u000c\u001f""#),
        ("é→✓ api/v2", "\"é→✓ api/v2\""),
    ])
    func strings(text: String, json: String) throws {
        #expect(WireJSON.quoted(text) == json)
        #expect(WireJSON.text(text) == json)
        #expect(try WireJSON.decode(String.self, from: json) == text)
    }

    @Test("fixed decimals keep their places, and read back exactly")
    func decimals() throws {
        #expect(WireJSON.text([WireSeconds(microseconds: 1_765_089_600_123_456), WireSeconds(microseconds: 1640),
                               WireSeconds(microseconds: 0), WireSeconds(microseconds: -1_500_000)])
                == "[1765089600.123456,0.001640,0.000000,-1.500000]")
        #expect(try WireJSON.decode(WireSeconds.self, from: "1765089600.123456") == WireSeconds(microseconds: 1_765_089_600_123_456))
        #expect(try WireJSON.decode(WireSeconds.self, from: "0.00164") == WireSeconds(microseconds: 1640))
        let milliseconds = [1.0, 12.3456, 0.0004, -0.0004, -2.5, 0.0005].map(WireMilliseconds.init)
        #expect(WireJSON.text(milliseconds) == "[1.000,12.346,0.000,0.000,-2.500,0.001]")
        #expect(WireMilliseconds(.nan) == nil && WireMilliseconds(.infinity) == nil && WireMilliseconds(1e300) == nil)
        #expect(WireJSON.text([WireMilliseconds(.nan)]) == "[null]")
        #expect(try WireJSON.decode(WireMilliseconds.self, from: "12.346") == WireMilliseconds(thousandths: 12_346))
        #expect(throws: DecodingError.self) { try WireJSON.decode(WireSeconds.self, from: "1e300") }
    }

    @Test("a dynamic key, and a second container of the same value, continue one object")
    func dynamicKeys() throws {
        let top = TopAnswer(kind: "port", key: "443", failures: 3, timeout: 1, reject: 1, unreach: 0, abort: 1, attempts: 9)
        let text = WireJSON.text(top)
        #expect(text == #"{"port":"443","failures":3,"timeout":1,"reject":1,"unreach":0,"abort":1,"attempts":9}"#)
        #expect(try WireJSON.decode(TopAnswer.self, from: text) == top)
        #expect(throws: DecodingError.self) { try WireJSON.decode(TopAnswer.self, from: #"{"failures":3}"#) }
    }

    @Test("isJSON tells any JSON document from other text")
    func isJSON() {
        #expect(WireJSON.isJSON(#"{"hello":"world"}"#))
        #expect(WireJSON.isJSON("[1,2]"))
        #expect(!WireJSON.isJSON("HTTP/1.0 400 Bad Request"))
        #expect(!WireJSON.isJSON(""))
    }
}
