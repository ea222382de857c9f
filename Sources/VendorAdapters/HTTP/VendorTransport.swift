import AsyncHTTPClient
import Logging
import NIOCore
import Provisioning
import Tracing

/// The HTTP/1.1 transport under `VendorHTTPClient`: AsyncHTTPClient, or `LeanHTTPClient` with a
/// fraction of its per-request work. Both send the same request (method, URL, `Accept`, the
/// request's headers, `traceparent`, a JSON body) and read the whole answer within the target's
/// timeout; errors are the transport's own, put in words by `VendorHTTPClient.describe`.
enum VendorTransport: Sendable {
    case asyncHTTPClient(HTTPClient)
    case lean(LeanHTTPClient)

    func send(
        _ request: VendorRequest, to target: ProvisioningTarget, trace: ServiceContext, tracer: any Tracer, logger: Logger
    ) async throws -> VendorHTTPResponse {
        let body = request.body.map(VendorJSON.encode)
        switch self {
        case .asyncHTTPClient(let client):
            var http = HTTPClientRequest(url: request.url(base: target.baseURL))
            tracer.inject(trace, into: &http.headers, using: HTTPHeadersInjector())
            http.method = .init(rawValue: request.method.rawValue)
            http.headers.add(name: "Accept", value: "application/json")
            for (name, value) in request.headers { http.headers.add(name: name, value: value.revealed) }
            if let body {
                http.headers.add(name: "Content-Type", value: "application/json")
                http.body = .bytes(ByteBuffer(bytes: body))
            }
            // AsyncHTTPClient logs on its event loops, outside this task: hand it the command's identity.
            var logger = logger
            if logger.logLevel <= .debug {
                for (key, value) in trace.command?.metadata ?? [:] { logger[metadataKey: key] = value }
            }
            let response = try await client.execute(http, timeout: .milliseconds(target.timeout.milliseconds), logger: logger)
            let bytes = Array(buffer: try await response.body.collect(upTo: VendorHTTPClient.maximumBodySize))
            return VendorHTTPResponse(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, bytes: bytes, json: VendorJSON.decode(bytes))
        case .lean(let client):
            let endpoint = try client.endpoint(for: target.baseURL)
            var requestTarget = endpoint.basePath
            request.appendPathAndQuery(to: &requestTarget)
            var http = LeanHTTPRequest(
                method: request.method.rawValue, target: requestTarget, hostHeader: endpoint.hostHeader, bodyCapacity: body?.count ?? 0)
            tracer.inject(trace, into: &http, using: LeanHTTPHeaderInjector())
            try http.addHeader("Accept", "application/json")
            for (name, value) in request.headers { try http.addHeader(name, value.revealed) }
            http.finish(body: body, contentType: body == nil ? nil : "application/json")
            let response = try await client.execute(
                http, on: endpoint, timeout: target.timeout, connectionLimit: target.policy.maxConcurrency,
                maximumBodySize: VendorHTTPClient.maximumBodySize)
            return VendorHTTPResponse(status: response.status, headers: response.headers, bytes: response.body, json: VendorJSON.decode(response.body))
        }
    }
}
