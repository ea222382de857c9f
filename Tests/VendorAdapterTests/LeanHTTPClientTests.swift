import Foundation
import Logging
import NIOCore
import NIOSSL
import Provisioning
import ProvisioningContract
import Testing

@testable import VendorAdapters

/// The lean client against a tiny server that answers byte for byte what each test says.
@Suite("Lean HTTP client", .timeLimit(.minutes(10)))
struct LeanHTTPClientTests {
    static let json = #"{"ok":true}"#

    /// A call through `VendorHTTPClient`, as the adapters make it.
    static func call(
        _ client: LeanHTTPClient, _ request: VendorRequest, port: Int, host: String = "127.0.0.1", scheme: String = "http",
        timeout: Duration = .seconds(5), maxConcurrency: Int = 64
    ) async -> Result<VendorHTTPResponse, AdapterFailure> {
        var logger = Logger(label: "test.lean")
        logger.logLevel = .error
        let target = ProvisioningTarget(
            name: "t", vendor: .tecs, baseURL: "\(scheme)://\(host):\(port)/base/", timeout: timeout, policy: TargetPolicy(maxConcurrency: maxConcurrency))
        do {
            return .success(try await VendorHTTPClient(lean: client, logger: logger).send(request, to: target))
        } catch {
            return .failure(error)
        }
    }

    /// Runs `body` with a fresh client and `server`, and shuts both down whatever happens.
    static func with(_ server: TinyHTTPServer, _ body: (LeanHTTPClient, TinyHTTPServer) async throws -> Void) async throws {
        let client = LeanHTTPClient()
        do {
            try await body(client, server)
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
        await client.shutdown()
        await server.stop()
    }

    @Test("calls one after another share one keep-alive connection, each request written whole with its headers")
    func keepAlive() async throws {
        try await Self.with(
            try await TinyHTTPServer.start(respond: { _ in .send([TinyHTTPServer.response(headers: ["Content-Type: application/json"], body: Self.json)]) })
        ) {
            client, server in
            for index in 0..<20 {
                var request = VendorRequest(
                    index.isMultiple(of: 2) ? .GET : .POST, "/users/" + VendorRequest.segment("a/b \(index)"), query: [("q", "x&y")],
                    body: index.isMultiple(of: 2) ? nil : .object(["n": .integer(Int64(index))]))
                request.headers = [("Authorization", .secret(Secret("Basic abc"))), ("X-Plain", .plain("p"))]
                let response = try await Self.call(client, request, port: server.port).get()
                #expect(response.status == 200)
                #expect(response.json == .object(["ok": .bool(true)]))
            }
            #expect(server.connections == 1)
            let requests = server.requests
            #expect(requests.count == 20)
            for (index, request) in requests.enumerated() {
                #expect(request.cameWhole, "request \(index) came in more than one read")
                #expect(request.head.hasPrefix("\(index.isMultiple(of: 2) ? "GET" : "POST") /base/users/a%2Fb%20\(index)?q=x%26y HTTP/1.1\r\n"))
                #expect(request.header("Host") == "127.0.0.1:\(server.port)")
                #expect(request.header("Accept") == "application/json")
                #expect(request.header("Authorization") == "Basic abc")
                #expect(request.header("X-Plain") == "p")
                if index.isMultiple(of: 2) {
                    #expect(request.header("Content-Length") == nil)
                    #expect(request.header("Content-Type") == nil)
                } else {
                    #expect(request.header("Content-Type") == "application/json")
                    #expect(String(decoding: request.body, as: UTF8.self) == #"{"n":\#(index)}"#)
                }
            }
        }
    }

    @Test("calls at once open no more connections than the target's maxConcurrency, and all are answered")
    func bounded() async throws {
        try await Self.with(try await TinyHTTPServer.start(respond: { _ in .delayed(milliseconds: 30, TinyHTTPServer.response(body: Self.json)) })) {
            client, server in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<12 {
                    group.addTask { try await Self.call(client, VendorRequest(.GET, "/u/\(index)"), port: server.port, maxConcurrency: 3).get().status }
                }
                for try await status in group { #expect(status == 200) }
            }
            #expect(server.connections <= 3)
            #expect(server.requests.count == 12)
        }
    }

    @Test("a vendor that never answers fails with 'no answer within' the target's timeout, retryable")
    func timeout() async throws {
        try await Self.with(try await TinyHTTPServer.start(respond: { _ in .ignore })) { client, server in
            let started = ContinuousClock.now
            let result = await Self.call(client, VendorRequest(.GET, "/slow"), port: server.port, timeout: .milliseconds(300))
            let elapsed = ContinuousClock.now - started
            let failure = try #require(result.failure)
            #expect(failure.error.category == .unavailable)
            #expect(failure.error.retryable)
            #expect(failure.error.message == "GET /slow: no answer within 0.3 seconds")
            #expect(elapsed >= .milliseconds(290) && elapsed < .seconds(3))
        }
    }

    @Test("an answer larger than the body limit fails, whether its length is declared or chunked")
    func bodyLimit() async throws {
        let declared = Array("HTTP/1.1 200 OK\r\nContent-Length: \(VendorHTTPClient.maximumBodySize + 1)\r\n\r\n".utf8)
        let chunked = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n".utf8) + [UInt8](repeating: 65, count: 4096) + Array("\r\n".utf8)
        try await Self.with(
            try await TinyHTTPServer.start(respond: { request in
                .send(request.head.contains("declared") ? [declared] : [chunked, Array("400000\r\n".utf8)])
            })
        ) { client, server in
            for path in ["/declared", "/chunked"] {
                let failure = try #require(await Self.call(client, VendorRequest(.GET, path), port: server.port).failure)
                #expect(failure.error.message == "GET \(path): the answer is larger than \(VendorHTTPClient.maximumBodySize) bytes")
                #expect(failure.error.retryable)
            }
        }
    }

    @Test("a redirect is not followed: the 3xx is the answer")
    func noRedirect() async throws {
        try await Self.with(
            try await TinyHTTPServer.start(respond: { request in
                .send([TinyHTTPServer.response(302, "Found", headers: ["Location: http://127.0.0.1:1/elsewhere"])])
            })
        ) { client, server in
            let response = try await Self.call(client, VendorRequest(.GET, "/old"), port: server.port).get()
            #expect(response.status == 302)
            #expect(response.headers.contains { $0.0 == "Location" && $0.1 == "http://127.0.0.1:1/elsewhere" })
            #expect(server.requests.count == 1)
        }
    }

    @Test("a GET on a connection the server closed idle goes again on a fresh one; a POST fails retryable and is not sent twice")
    func staleConnection() async throws {
        // The first connection's second request finds it closed, as when the server's idle timeout
        // closes it while the request is on its way.
        let respond: @Sendable (TinyHTTPServer.Request) -> TinyHTTPServer.Reply = { request in
            request.connection == 1 && request.index == 2 ? .close : .send([TinyHTTPServer.response(body: Self.json)])
        }
        try await Self.with(try await TinyHTTPServer.start(respond: respond)) { client, server in
            let first = try await Self.call(client, VendorRequest(.GET, "/a"), port: server.port).get()
            let second = try await Self.call(client, VendorRequest(.GET, "/b"), port: server.port).get()
            #expect(first.status == 200 && second.status == 200)
            #expect(server.requests.map { "\($0.connection).\($0.index) \($0.method)" } == ["1.1 GET", "1.2 GET", "2.1 GET"])
        }
        try await Self.with(try await TinyHTTPServer.start(respond: respond)) { client, server in
            #expect(try await Self.call(client, VendorRequest(.POST, "/users", body: .object(["n": .integer(1)])), port: server.port).get().status == 200)
            let failure = try #require(await Self.call(client, VendorRequest(.POST, "/users", body: .object(["n": .integer(2)])), port: server.port).failure)
            #expect(failure.error.category == .unavailable)
            #expect(failure.error.retryable)
            #expect(failure.error.message == "POST /users: the vendor closed the connection")
            #expect(server.requests.map { "\($0.connection).\($0.index) \($0.method)" } == ["1.1 POST", "1.2 POST"])
            // The connection is gone from the pool: the next call gets a new one.
            #expect(try await Self.call(client, VendorRequest(.GET, "/users"), port: server.port).get().status == 200)
            #expect(server.connections == 2)
        }
    }

    @Test("a chunked answer in pieces, with an informational head before it and trailers after, is read whole and the connection reused")
    func chunked() async throws {
        let pieces = [
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\n", "\r\n4;ext=1\r\n{\"o", "k\r\n7\r\n\":tr",
            "ue}\r\n0\r\nX-Trailer: y\r\n", "\r\n",
        ]
        try await Self.with(
            try await TinyHTTPServer.start(respond: { request in
                request.index == 1 ? .send(pieces.map { Array($0.utf8) }) : .send([TinyHTTPServer.response(body: "{}")])
            })
        ) { client, server in
            let response = try await Self.call(client, VendorRequest(.GET, "/chunked"), port: server.port).get()
            #expect(response.status == 201)
            #expect(response.json == .object(["ok": .bool(true)]))
            #expect(try await Self.call(client, VendorRequest(.GET, "/next"), port: server.port).get().json == .object([:]))
            #expect(server.connections == 1)
        }
    }

    @Test("'Connection: close' closes the connection after the answer; an answer without a length ends with the connection")
    func connectionClose() async throws {
        try await Self.with(
            try await TinyHTTPServer.start(respond: { request in
                switch request.index {
                case 1: .send([TinyHTTPServer.response(headers: ["Connection: close"], body: Self.json)])
                default: .sendAndClose(Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\(Self.json)".utf8))
                }
            })
        ) { client, server in
            for _ in 0..<3 {
                let response = try await Self.call(client, VendorRequest(.GET, "/x"), port: server.port).get()
                #expect(response.json == .object(["ok": .bool(true)]))
            }
            #expect(server.connections == 3)
        }
    }

    @Test("a connection left idle past the idle timeout is closed, and the next call opens another")
    func idleTimeout() async throws {
        let server = try await TinyHTTPServer.start { _ in .send([TinyHTTPServer.response(body: Self.json)]) }
        let client = LeanHTTPClient(configuration: LeanHTTPClient.Configuration(idleTimeout: .milliseconds(200)))
        let first = await Self.call(client, VendorRequest(.GET, "/x"), port: server.port)
        try await Task.sleep(for: .milliseconds(600))
        let second = await Self.call(client, VendorRequest(.GET, "/x"), port: server.port)
        await client.shutdown()
        await server.stop()
        #expect(try first.get().status == 200)
        #expect(try second.get().status == 200)
        #expect(server.requests.map(\.connection) == [1, 2])
    }

    @Test("a refused connection is unavailable, retryable, and its message names no path or query")
    func refused() async throws {
        let client = LeanHTTPClient()
        let failure = try #require(await Self.call(client, VendorRequest(.GET, "/users", query: [("access_token", "t0ken")]), port: 1).failure)
        await client.shutdown()
        #expect(failure.error.category == .unavailable)
        #expect(failure.error.retryable)
        #expect(!failure.error.message.contains("t0ken"))
        #expect(!failure.error.message.contains("/base"))
    }

    @Test("a cancelled call ends at once with 'cancelled'")
    func cancelled() async throws {
        try await Self.with(try await TinyHTTPServer.start(respond: { _ in .ignore })) { client, server in
            let started = ContinuousClock.now
            let outcome = try await withThrowingTaskGroup(of: AdapterFailure?.self) { group in
                group.addTask { await Self.call(client, VendorRequest(.GET, "/slow"), port: server.port, timeout: .seconds(30)).failure }
                try await Task.sleep(for: .milliseconds(100))
                group.cancelAll()
                return try await group.next() ?? nil
            }
            let failure = try #require(outcome)
            #expect(failure.error.message == "GET /slow: cancelled")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("a header value with a line break is refused before anything is sent")
    func headerInjection() async throws {
        try await Self.with(try await TinyHTTPServer.start(respond: { _ in .send([TinyHTTPServer.response(body: Self.json)]) })) { client, server in
            var request = VendorRequest(.GET, "/x")
            request.headers = [("X-Token", .secret(Secret("abc\r\nX-Evil: 1")))]
            let failure = try #require(await Self.call(client, request, port: server.port).failure)
            #expect(!failure.error.message.contains("abc"))
            #expect(server.requests.isEmpty)
        }
    }

    @Test("trace context goes into the request's head as a header")
    func traceHeader() {
        var request = LeanHTTPRequest(method: "GET", target: Array("/x".utf8), hostHeader: "h")
        LeanHTTPHeaderInjector().inject("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", forKey: "traceparent", into: &request)
        request.finish(body: nil)
        let text = String(buffer: request.bytes)
        #expect(text == "GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n")
    }

    @Test(
        "https: an untrusted self-signed certificate fails verification; trusted, the call succeeds with SNI",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl to make a certificate"))
    func tls() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lean-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)

        let chain = try NIOSSLCertificate.fromPEMFile(certificate)
        let serverContext = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
        let server = try await TinyHTTPServer.start(tls: serverContext) { _ in .send([TinyHTTPServer.response(body: Self.json)]) }

        let untrusting = LeanHTTPClient()
        let refused = try #require(await Self.call(untrusting, VendorRequest(.GET, "/x"), port: server.port, host: "localhost", scheme: "https").failure)
        await untrusting.shutdown()
        #expect(refused.error.message.contains("TLS"))
        #expect(refused.error.message.contains("CERTIFICATE_VERIFY_FAILED"))

        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(chain)
        let trusting = LeanHTTPClient(configuration: LeanHTTPClient.Configuration(tls: configuration))
        let response = await Self.call(trusting, VendorRequest(.GET, "/x"), port: server.port, host: "localhost", scheme: "https")
        #expect(try response.get().json == .object(["ok": .bool(true)]))
        #expect(try await Self.call(trusting, VendorRequest(.GET, "/y"), port: server.port, host: "localhost", scheme: "https").get().status == 200)
        await trusting.shutdown()
        #expect(server.requests.map(\.connection) == [2, 2], "the untrusting client's connection sent nothing; the trusting one's was reused")
        #expect(server.requests.first?.header("Host") == "localhost:\(server.port)")
        await server.stop()
    }
}
