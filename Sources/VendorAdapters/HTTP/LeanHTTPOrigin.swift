import Foundation

/// Where connections go: scheme, host and port. A pool per origin; `LeanHTTPEndpoint` adds a
/// base URL's path.
struct LeanHTTPOrigin: Hashable, Sendable {
    var isSecure: Bool
    /// Without brackets for an IPv6 literal, as `ClientBootstrap.connect(host:port:)` takes it.
    var host: String
    var port: Int

    /// The `Host` header's value: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isSecure ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// The name sent as TLS SNI and verified against the certificate; an IP literal is not a
    /// server name (RFC 6066) and is sent as none.
    var serverName: String? {
        if host.contains(":") { return nil }
        if host.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) { return nil }
        return host
    }

    /// The origin of `url` and its path, without a trailing `/`. Errors name what is wrong, never
    /// the URL (it may carry a credential).
    static func parse(_ url: String) throws(LeanHTTPError) -> (origin: LeanHTTPOrigin, basePath: String) {
        guard let components = URLComponents(string: url) else { throw .invalidURL("the base URL cannot be parsed") }
        let isSecure: Bool
        switch components.scheme?.lowercased() {
        case "http": isSecure = false
        case "https": isSecure = true
        default: throw .invalidURL("the base URL's scheme is not http or https")
        }
        guard var host = components.host, !host.isEmpty else { throw .invalidURL("the base URL has no host") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard components.user == nil, components.password == nil else { throw .invalidURL("the base URL holds user information") }
        guard components.percentEncodedQuery == nil, components.fragment == nil else { throw .invalidURL("the base URL holds a query or fragment") }
        var path = components.percentEncodedPath
        if path.hasSuffix("/") { path.removeLast() }
        let port = components.port ?? (isSecure ? 443 : 80)
        guard (1...65535).contains(port) else { throw .invalidURL("the base URL's port is out of range") }
        return (LeanHTTPOrigin(isSecure: isSecure, host: host, port: port), path)
    }
}
