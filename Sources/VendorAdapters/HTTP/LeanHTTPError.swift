/// Why a `LeanHTTPClient` call got no answer. No case carries a URL or a header: a query may
/// carry an access token and a header a credential; `VendorHTTPClient.describe` words them.
enum LeanHTTPError: Error, Sendable, Equatable {
    /// The call's deadline passed: connecting, waiting for a pooled connection or for the answer.
    case timedOut
    /// The vendor closed the connection (or reset it) before the whole answer came.
    case connectionClosed
    /// The answer's body is longer than the call allows.
    case bodyTooLarge(limit: Int)
    /// The calling task was cancelled.
    case cancelled
    /// No connection could be made; NIO's words, which name the address and errno only.
    case connectFailed(String)
    /// The TLS handshake or the TLS stream failed (an untrusted certificate, say).
    case tls(String)
    /// The bytes that came back are not an HTTP/1.x answer.
    case malformedResponse(String)
    /// The base URL cannot be used (a scheme other than http or https, no host).
    case invalidURL(String)
    /// A header name or value that would break the request's framing (a line break, say).
    case invalidHeader(name: String)
    /// Another socket error after the connection was made.
    case io(String)
    /// `LeanHTTPClient.shutdown()` was called.
    case shutDown
}
