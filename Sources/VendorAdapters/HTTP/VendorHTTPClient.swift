import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Provisioning
import ProvisioningContract
import Tracing

/// One HTTP request to a vendor, relative to the target's `baseURL`. Kept as data so that a dry
/// run can show it (redacted) without sending it.
struct VendorRequest: Sendable {
    /// Named as on the wire.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    enum Method: String, Sendable { case GET, POST, PUT, DELETE }

    var method: Method
    /// Relative to the base URL and sent as it is: a value in it goes through `segment(_:)`.
    var path: String
    var query: [(String, String)] = []
    /// Header values that are credentials (`Authorization`, tokens) are marked secret so that a
    /// dry run shows them redacted.
    var headers: [(String, HeaderValue)] = []
    var body: JSONValue?

    enum HeaderValue: Sendable {
        case plain(String)
        case secret(Secret)

        /// As sent: only the transport sees a secret's value.
        var revealed: String {
            switch self {
            case .plain(let text): text
            case .secret(let secret): secret.revealed
            }
        }
    }

    init(_ method: Method, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }

    func url(base: String) -> String {
        var url = Array(base.utf8)
        if url.last == UInt8(ascii: "/") { url.removeLast() }
        appendPathAndQuery(to: &url)
        return String(decoding: url, as: UTF8.self)
    }

    /// The path and the encoded query, as they follow the base URL (and as the lean client's
    /// request target follows the base URL's path).
    func appendPathAndQuery(to url: inout [UInt8]) {
        url += path.utf8
        for (index, (name, value)) in query.enumerated() {
            url.append(index == 0 ? UInt8(ascii: "?") : UInt8(ascii: "&"))
            Self.appendQueryComponent(name, to: &url)
            url.append(UInt8(ascii: "="))
            Self.appendQueryComponent(value, to: &url)
        }
    }

    /// A value (a user id) as one path segment: a `/` in it is escaped, not a new segment.
    static func segment(_ value: String) -> String {
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            if isUnreserved(byte) || isPathSafe(byte) { bytes.append(byte) } else { appendEscaped(byte, to: &bytes) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// RFC 3986 `unreserved`: letters, digits, `-._~`.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// The rest of a path segment's `pchar` (sub-delims but `;`, `:` and `@`), as Foundation's `urlPathAllowed`.
    private static func isPathSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
            true
        default: false
        }
    }

    /// Query names and values keep only `unreserved` characters unescaped.
    private static func appendQueryComponent(_ text: String, to url: inout [UInt8]) {
        for byte in text.utf8 {
            if isUnreserved(byte) { url.append(byte) } else { appendEscaped(byte, to: &url) }
        }
    }

    private static let hex = Array("0123456789ABCDEF".utf8)

    private static func appendEscaped(_ byte: UInt8, to url: inout [UInt8]) {
        url.append(UInt8(ascii: "%"))
        url.append(hex[Int(byte >> 4)])
        url.append(hex[Int(byte & 0x0F)])
    }

    /// What a dry run shows: method, URL, headers and body with every credential and secret
    /// redacted.
    func planned(base: String, querySecrets: Set<String> = []) -> JSONValue {
        var redactedQuery = self
        redactedQuery.query = query.map { querySecrets.contains($0.0) ? ($0.0, Redaction.marker) : $0 }
        var object: [String: JSONValue] = [
            "method": .string(method.rawValue),
            "url": .string(redactedQuery.url(base: base)),
        ]
        if !headers.isEmpty {
            object["headers"] = .object(
                Dictionary(
                    headers.map { name, value in
                        switch value {
                        case .plain(let text): (name, JSONValue.string(text))
                        case .secret: (name, JSONValue.string(Redaction.marker))
                        }
                    }, uniquingKeysWith: { $1 }))
        }
        if let body { object["body"] = Redaction.redacted(body) }
        return .object(object)
    }
}

/// A vendor's answer: status and body, the body parsed when it is JSON.
struct VendorHTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var bytes: [UInt8]
    var json: JSONValue?

    var isSuccess: Bool { (200..<300).contains(status) }
}

/// The one HTTP client every adapter shares: pooled keep-alive connections, TLS verification on,
/// the target's timeout on every call, no redirects followed, and no body ever logged. Over
/// AsyncHTTPClient (`init(client:logger:)`) or the lean client (`init(lean:logger:)`); spans,
/// logging and error mapping are the same for both.
public struct VendorHTTPClient: Sendable {
    let transport: VendorTransport
    let logger: Logger
    /// The process's tracer, looked up once (make the client after bootstrapping tracing).
    let tracer: any Tracer
    /// The largest vendor answer read; vendors answer one user at a time.
    static let maximumBodySize = 4 << 20

    /// Over AsyncHTTPClient; the caller configures it (no redirects, its pool) and shuts it down.
    public init(client: HTTPClient, logger: Logger) {
        self.transport = .asyncHTTPClient(client)
        self.logger = logger
        self.tracer = InstrumentationSystem.tracer
    }

    /// Over `LeanHTTPClient`; each origin's pool may open as many connections as a target's
    /// `maxConcurrency` (within the client's configured maximum). The caller shuts it down.
    public init(lean client: LeanHTTPClient, logger: Logger) {
        self.transport = .lean(client)
        self.logger = logger
        self.tracer = InstrumentationSystem.tracer
    }

    /// Sends the request in a client span whose W3C `traceparent` goes along; transport
    /// failures and timeouts become retryable `unavailable`.
    func send(_ request: VendorRequest, to target: ProvisioningTarget) async throws(AdapterFailure) -> VendorHTTPResponse {
        let span = tracer.startAnySpan("\(request.method.rawValue) \(target.vendor.rawValue)", ofKind: .client)
        defer { span.end() }
        span.attributes["http.request.method"] = request.method.rawValue
        span.attributes["provisioning.target"] = target.name
        do {
            let response = try await execute(request, to: target, trace: span.context)
            span.attributes["http.response.status_code"] = response.status
            if response.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        } catch {
            span.setStatus(SpanStatus(code: .error, message: error.error.message))
            throw error
        }
    }

    private func execute(_ request: VendorRequest, to target: ProvisioningTarget, trace: ServiceContext) async throws(AdapterFailure) -> VendorHTTPResponse {
        let started = ContinuousClock.now
        do {
            let response = try await transport.send(request, to: target, trace: trace, tracer: tracer, logger: logger)
            logger.debug(
                "vendor call",
                metadata: [
                    "target": "\(target.name)", "method": "\(request.method.rawValue)", "path": "\(request.path)",
                    "status": "\(response.status)", "ms": "\((ContinuousClock.now - started).milliseconds)",
                ])
            return response
        } catch {
            let message = Self.describe(error, timeout: target.timeout)
            logger.debug(
                "vendor call failed",
                metadata: [
                    "target": "\(target.name)", "method": "\(request.method.rawValue)", "path": "\(request.path)", "error": "\(message)",
                ])
            throw AdapterFailure(.unavailable, message: "\(request.method.rawValue) \(request.path): \(message)", retryable: true)
        }
    }

    /// A transport error in words, without URLs (a query may carry an access token).
    static func describe(_ error: any Error, timeout: Duration) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return "no answer within \(timeout)"
            case .remoteConnectionClosed: return "the vendor closed the connection"
            default: return "HTTP client error \(error.shortDescription)"
            }
        }
        if let error = error as? LeanHTTPError {
            switch error {
            case .timedOut: return "no answer within \(timeout)"
            case .connectionClosed: return "the vendor closed the connection"
            case .bodyTooLarge(let limit): return "the answer is larger than \(limit) bytes"
            case .cancelled: return "cancelled"
            case .connectFailed(let reason): return reason
            case .tls(let reason): return "TLS: \(reason)"
            case .malformedResponse(let reason): return "not an HTTP/1.1 answer: \(reason)"
            case .invalidURL(let reason): return reason
            case .invalidHeader(let name): return "header \(name) holds a character a header cannot"
            case .io(let reason): return reason
            case .shutDown: return "the HTTP client is shut down"
            }
        }
        if error is CancellationError { return "cancelled" }
        if error is NIOTooManyBytesError { return "the answer is larger than \(maximumBodySize) bytes" }
        // NIO's connection errors name the address and errno, never a URL or a header.
        return String(String(describing: error).prefix(200))
    }
}

/// Writes W3C trace context onto a vendor request.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}

extension HTTPClientError {
    fileprivate var shortDescription: String { String(describing: self).replacingOccurrences(of: "HTTPClientError.", with: "") }
}

/// JSON in and out of vendor calls, deterministic (sorted keys) so requests and tests are stable.
enum VendorJSON {
    static func encode(_ value: JSONValue) -> [UInt8] {
        var bytes: [UInt8] = []
        JSONWriter.append(value, to: &bytes)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> JSONValue? {
        guard !bytes.isEmpty else { return nil }
        return try? JSONParser.parse(bytes)
    }
}
