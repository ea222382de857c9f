import Foundation
import Hummingbird
import Kafka
import Logging
import ProvisioningContract
import Redrive
import ServiceLifecycle

/// `provisioner console`: the HTTP application and the topic followers that feed it, as
/// services for one `ServiceGroup`. Building apart from running: nothing starts here.
public enum ConsoleApplication {
    /// `listening` is told the bound port (the one configured, or the kernel's pick for 0).
    public static func services(settings: ConsoleSettings, logger: Logger, listening: @escaping @Sendable (Int) -> Void = { _ in }) throws(KafkaError)
        -> [any Service]
    {
        let fleet = Fleet(interval: settings.statusInterval, capacity: settings.maxWorkers)
        let deadLetters = DeadLetterWindow(capacity: settings.deadLetterWindow)
        let replies = ReplyWindow(capacity: settings.replyWindow)
        let commands = CommandWindow(capacity: settings.commandWindow)
        let history = RedriveHistory(capacity: settings.redriveHistory)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: settings.bootstrapServers, properties: settings.producerProperties), logger: logger)
        let desk = RedriveDesk(
            producer: producer, topics: Redrive.Topics(commands: settings.commandsTopic, replays: settings.replaysTopic), history: history,
            logger: logger)
        let sessions = ConsoleSessions()
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: ConsoleAuthMiddleware(credentials: settings.credentials, sessions: sessions))
        routes(router, settings: settings, sessions: sessions, fleet: fleet)
        DeadLetterRoutes(deadLetters: deadLetters, history: history, desk: desk).add(to: router)
        RepliesRoutes(replies: replies, commands: commands, deadLetters: deadLetters).add(to: router)

        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port), serverName: "provisioner-console"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.info("console listening", metadata: ["host": "\(settings.host)", "port": "\(port)"])
                listening(port)
            },
            logger: logger
        )
        let follow = { (topic: String, handle: @escaping @Sendable (KafkaConsumerMessage) -> Void) in
            KafkaTopicFollower(
                KafkaTopicReader(bootstrapServers: settings.bootstrapServers, topic: topic, properties: settings.kafkaProperties, logger: logger),
                handle: handle)
        }
        let status = follow(settings.statusTopic) { message in
            guard let value = message.value, let status = try? WorkerStatus.decode(value) else { return }
            fleet.observe(status)
        }
        let letters = follow(settings.deadLettersTopic) { deadLetters.observe($0) }
        let replays = follow(settings.replaysTopic) { message in
            guard let value = message.value, let record = try? RedriveRecord.decode(value) else { return }
            history.observe(record)
        }
        let answers = follow(settings.repliesTopic) { replies.observe($0) }
        let sent = follow(settings.commandsTopic) { commands.observe($0) }
        // A group stops its services in reverse order: the desk (cancelling redrives) first, the
        // producer the desk publishes through last.
        return [producer, application, status, letters, replays, answers, sent, desk]
    }

    static func routes(_ router: Router<ConsoleRequestContext>, settings: ConsoleSettings, sessions: ConsoleSessions, fleet: Fleet) {
        router.get("/assets/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: Assets.css)))
        }
        router.get("/assets/console.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: Assets.javascript)))
        }
        router.get("/login") { _, _ in LoginPage.render(failed: false) }
        router.post("/login") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 4096)
            let form = FormData(String(buffer: body))
            guard
                settings.credentials.accepts(
                    username: Array((form["username"] ?? "").utf8), password: Array((form["password"] ?? "").utf8))
            else { return LoginPage.render(failed: true) }
            let session = sessions.open()
            var response = Response(status: .seeOther, headers: [.location: "/"])
            response.setCookie(Cookie(name: ConsoleAuthMiddleware.sessionCookie, value: session.id, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("/logout") { _, context -> Response in
            if let id = context.sessionId { sessions.close(id) }
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(Cookie(name: ConsoleAuthMiddleware.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        router.get("/") { _, context in FleetPage.render(fleet.members(), now: Date(), context: context) }
        router.get("/api/fleet") { _, _ in try FleetPage.json(fleet.members()) }
    }
}

/// `application/x-www-form-urlencoded` fields.
struct FormData {
    private var fields: [String: String] = [:]

    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            if let name = parts.first { fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : "" }
        }
    }

    subscript(name: String) -> String? { fields[name] }
}
