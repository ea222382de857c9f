/// A base URL made ready for requests: its origin's pool, the `Host` header and the path every
/// request's target starts with. Made once per base URL by `LeanHTTPClient` and cached.
struct LeanHTTPEndpoint: Sendable {
    let pool: LeanHTTPConnectionPool
    let hostHeader: String
    /// Percent-encoded as in the base URL, without a trailing `/` (`VendorRequest.url(base:)` strips it too).
    let basePath: [UInt8]
}
