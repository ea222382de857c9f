/// A whole HTTP/1.x answer as `LeanHTTPClient` hands it back: status, headers in the order
/// received (names as the server spelled them), and the body, de-chunked.
struct LeanHTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
}
