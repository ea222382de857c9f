import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// `provisioner console` as a subprocess over HTTP: who gets in, what a browser is refused, and
/// the fleet page built from the workers' status records.
@Suite("Operator console", .timeLimit(.minutes(10)))
struct ConsoleTests {
    static let password = "Zq7-console-pass"
    /// Redirects are what is tested: never followed. Lives as long as the test process.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    static func config(bootstrap: String, auth: Bool = true) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString).yaml").path
        try """
        kafka: { bootstrapServers: "\(bootstrap)", groupId: console-workers, properties: { session.timeout.ms: "6000" } }
        observability: { port: 0 }
        console: { port: 0\(auth ? ", auth: { username: ops, password: \"\(password)\" }" : "") }
        targets:
          tecs-test: { vendor: tecs, baseURL: "http://127.0.0.1:9/x", credentials: { username: u, password: p } }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An embedded cluster and a console reading it, configured by `config(bootstrap:)`.
    struct Stack {
        let broker: ProvisionerProcess
        let config: String
        let console: ProvisionerProcess
        /// The console's base URL, with its closing slash.
        let url: String

        init() async throws {
            let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
            do {
                config = try ConsoleTests.config(bootstrap: try await broker.firstLine())
                console = try ProvisionerProcess(arguments: ["console", "--config", config], environment: ["LOG_LEVEL": "error"])
            } catch {
                broker.kill()
                throw error
            }
            self.broker = broker
            guard let url = try? await console.firstLine().split(separator: " ").last else {
                console.kill()
                broker.kill()
                throw CLIError("no URL from the console")
            }
            self.url = String(url)
        }

        func kill() {
            console.kill()
            broker.kill()
        }
    }

    /// One HTTP exchange; `basic` as `user:password`.
    static func request(
        _ url: String, method: HTTPMethod = .GET, basic: String? = nil, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> (status: Int, headers: HTTPHeaders, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let basic { request.headers.add(name: "Authorization", value: "Basic " + Data(basic.utf8).base64EncodedString()) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), response.headers, String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test("without console.auth the console refuses to start: exit 64 naming the key")
    func refusesWithoutAuth() async throws {
        let config = try Self.config(bootstrap: "127.0.0.1:9", auth: false)
        let console = try ProvisionerProcess(arguments: ["console", "--config", config], environment: ["LOG_LEVEL": "error"])
        #expect(try await console.exitCode() == 64)
        #expect(await console.outputs().stderr.contains("console.auth"))
    }

    @Test(
        "every page and data answer needs the credentials; a cross-site POST or one without the CSRF token is refused; the login cookie is HttpOnly and SameSite=Strict; the fleet shows a running worker and marks a killed one gone"
    )
    func authenticationAndFleet() async throws {
        let stack = try await Stack()
        defer { stack.kill() }
        let (config, console, url) = (stack.config, stack.console, stack.url)
        #expect(url.hasPrefix("http://127.0.0.1:"), "loopback by default")
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "error"])
        defer { worker.kill() }
        let credentials = "ops:\(Self.password)"

        // Refused without credentials or with wrong ones: pages send a browser to the form.
        for path in ["", "api/fleet"] {
            let anonymous = try await Self.request(url + path)
            #expect(anonymous.status == 401 && anonymous.headers["WWW-Authenticate"].first?.hasPrefix("Basic") == true, "\(path)")
            #expect(try await Self.request(url + path, basic: "ops:wrong").status == 401)
            #expect(try await Self.request(url + path, basic: "someone:\(Self.password)").status == 401)
        }
        let browser = try await Self.request(url, headers: [("Accept", "text/html")])
        #expect(browser.status == 303 && browser.headers["Location"].first == "/login")

        // The login form: a session cookie only a same-site page can use.
        #expect(try await Self.request(url + "login", method: .POST, body: "username=ops&password=wrong").status == 401)
        let login = try await Self.request(url + "login", method: .POST, body: "username=ops&password=\(Self.password)")
        #expect(login.status == 303)
        let cookie = try #require(login.headers["Set-Cookie"].first)
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
        let session = String(cookie.split(separator: ";")[0])
        let page = try await Self.request(url, headers: [("Cookie", session)])
        #expect(page.status == 200 && page.body.contains("<h1>Fleet</h1>"))
        let crossSiteLogin = try await Self.request(
            url + "login", method: .POST, headers: [("Origin", "http://evil.example")], body: "username=ops&password=\(Self.password)")
        #expect(crossSiteLogin.status == 403)

        // State-changing requests: the page's CSRF token, from the console's own origin.
        let token = try #require(page.body.range(of: #"<meta name="csrf-token" content=""#).map { page.body[$0.upperBound...].prefix { $0 != "\"" } })
        #expect(token.count == 64)
        #expect(try await Self.request(url + "logout", method: .POST, headers: [("Cookie", session)]).status == 403, "no token")
        // One character changed: a fixed "0" would be the real token whenever that starts with "0".
        let wrongToken = (token.first == "0" ? "1" : "0") + token.dropFirst()
        #expect(
            try await Self.request(url + "logout", method: .POST, headers: [("Cookie", session), ("X-CSRF-Token", wrongToken)]).status == 403,
            "a wrong token")
        let crossSite = try await Self.request(
            url + "logout", method: .POST,
            headers: [("Cookie", session), ("X-CSRF-Token", String(token)), ("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")])
        #expect(crossSite.status == 403, "a cross-site POST, even with the token")
        let logout = try await Self.request(url + "logout", method: .POST, headers: [("Cookie", session), ("X-CSRF-Token", String(token))])
        #expect(logout.status == 303)
        #expect(try await Self.request(url + "api/fleet", headers: [("Cookie", session)]).status == 401, "signed out")

        // The fleet, from the status topic: the worker running with its partitions.
        let workerId = try await waitForFleet(url, credentials) { fleet in
            fleet.first { ($0["presence"] as? String) == "running" && (($0["status"] as? [String: Any])?["partitions"] as? [Any])?.count == 3 }
        }
        let fleetPage = try await Self.request(url, basic: credentials)
        #expect(fleetPage.body.contains(#"<td class="presence-running">running</td>"#))
        #expect(fleetPage.body.contains("tecs-test: <span class=\"breaker-closed\">closed</span>"))
        #expect(!fleetPage.body.contains(Self.password), "no secret on a page")

        // Killed, it says nothing more: after three intervals it is marked gone.
        worker.kill()
        _ = try? await worker.exitCode()
        _ = try await waitForFleet(url, credentials, seconds: 60) { fleet in
            fleet.first { ($0["presence"] as? String) == "gone" && (($0["status"] as? [String: Any])?["worker"] as? String) == workerId }
        }
        #expect(try await Self.request(url, basic: credentials).body.contains(#"<td class="presence-gone">gone</td>"#))
        console.terminate()
        #expect(try await console.exitCode() == 0)
    }

    /// Chromium, its driver and selenium (scripts/bootstrap installs them).
    static let browserAvailable =
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")

    @Test(
        "in a real browser: sign in, see the fleet, redrive dead letters with live progress, and a dead letter's password and passport number show <redacted> on every page",
        .enabled(if: browserAvailable, "chromium and chromium-driver are not installed"))
    func inABrowser() async throws {
        let stack = try await Stack()
        defer { stack.kill() }
        let (config, url) = (stack.config, stack.url)
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "error"])
        defer { worker.kill() }
        // Three dead letters: two for a target nobody configured, one whose vendor is down and
        // whose command carries a password and a passport number.
        let secrets = ["Zq7-PASSWORD-LEAK", "ZQ7PASSPORT"]
        let lines = [
            #"{"commandId":"pw-1","target":"tecs-test","operation":"createUser","user":{"userName":"alice","email":"a@example.com","password":"\#(secrets[0])","passportNumber":"\#(secrets[1])"}}"#,
            #"{"commandId":"nt-1","target":"nowhere","operation":"getUser","userId":"bob"}"#,
            #"{"commandId":"nt-2","target":"nowhere","operation":"getUser","userId":"carol"}"#,
        ]
        let sender = try ProvisionerProcess(arguments: ["send", "--config", config], environment: ["LOG_LEVEL": "error"])
        try sender.send(lines.joined(separator: "\n") + "\n")
        #expect(try await sender.exitCode() == 0)
        let deadline = ContinuousClock.now + .seconds(60)
        while try await !Self.request(url + "dead-letters", basic: "ops:\(Self.password)").body.contains("3 matching of 3 held") {
            guard ContinuousClock.now < deadline else { throw CLIError("the console never held the three dead letters") }
            try await Task.sleep(for: .milliseconds(500))
        }

        let script = ObservabilityEndToEndTests.root.appendingPathComponent("Tests/Browser/console_browser_test.py").path
        let browser = try await runToEnd(["python3", script, url, "ops", Self.password] + secrets)
        print(browser.output)
        #expect(browser.status == 0, "\(browser.output)")
        #expect(browser.output.contains("all checks passed"))
    }

    /// Asks `/api/fleet` until `match` finds a worker; returns its id. The fleet changes with
    /// time (a silent worker becomes gone), so this asks again every half second.
    private func waitForFleet(_ url: String, _ credentials: String, seconds: Double = 60, match: @escaping ([[String: Any]]) -> [String: Any]?)
        async throws -> String
    {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let answer = try await Self.request(url + "api/fleet", basic: credentials)
            if let fleet = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]], let found = match(fleet),
                let id = (found["status"] as? [String: Any])?["worker"] as? String
            {
                return id
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw CLIError("the fleet never showed the worker as expected")
    }
}
