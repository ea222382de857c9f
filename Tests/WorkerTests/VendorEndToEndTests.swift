import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import TestSupport
import Testing
import VendorAdapters
import VendorSimulators
import Worker

/// Commands on Kafka → the worker → the vendor adapters → the simulators over HTTP → replies and
/// dead letters on Kafka: the product as users see it.
@Suite("End to end with the vendor simulators", .timeLimit(.minutes(10)))
struct VendorEndToEndTests {
    @Test("every M operation of every vendor, checked in the vendor's resulting state")
    func mustOperations() async throws {
        try await Pipeline.with { pipeline in
            // Creates first: later commands name users by the id their create returned.
            let created = try await pipeline.run([
                #"{"commandId":"tecs-create","target":"tecs-test","operation":"createUser","user":{"userName":"userlogin","email":"user@example.com","givenName":"UserName","familyName":"UserSurname"}}"#,
                #"{"commandId":"urac-create","target":"urac-test","operation":"createUser","user":{"userName":"john","email":"john@example.com","givenName":"John","familyName":"Doe","password":"s3cret-Pa55","groups":["waiter"]}}"#,
                #"{"commandId":"sm-create","target":"servicemobility-test","operation":"createUser","user":{"userName":"jdoe","email":"jdoe@example.com","givenName":"John","familyName":"Doe","password":"s3cret-Pa55","phone":"+491"}}"#,
                #"{"commandId":"sm-create-temp","target":"servicemobility-test","operation":"createUser","user":{"userName":"temp1","email":"temp1@example.com"}}"#,
                #"{"commandId":"asms-create","target":"asms-test","operation":"createUser","user":{"userName":"ana","displayName":"Ana Lopez","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"Administrator","registerType":"specialist"}}}}"#,
            ])
            for reply in created.values { #expect(reply.status == .succeeded, "\(reply.commandId ?? "") \(String(describing: reply.error))") }
            #expect(created["tecs-create"]?.vendorUserId == "userlogin")
            #expect(created["sm-create"]?.vendorUserId == "jdoe")
            #expect(created["asms-create"]?.vendorUserId == "4848")
            let john = try #require(created["urac-create"]?.vendorUserId)

            let changed = try await pipeline.run([
                #"{"commandId":"tecs-roles","target":"tecs-test","operation":"assignRoles","userId":"userlogin","roles":[{"name":"MP_CORPORATE","scope":"4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee"}]}"#,
                #"{"commandId":"urac-update","target":"urac-test","operation":"updateUser","userId":"\#(john)","user":{"familyName":"Doe-Smith"}}"#,
                #"{"commandId":"urac-groups","target":"urac-test","operation":"assignGroups","userId":"\#(john)","groups":["waiter","manager"]}"#,
                #"{"commandId":"urac-password","target":"urac-test","operation":"changePassword","userId":"\#(john)","password":"n3w-Secret-1"}"#,
                #"{"commandId":"urac-status","target":"urac-test","operation":"setUserStatus","userId":"\#(john)","status":"inactive"}"#,
                #"{"commandId":"sm-update","target":"servicemobility-test","operation":"updateUser","userId":"jdoe","user":{"familyName":"Doe-Smith"}}"#,
                #"{"commandId":"sm-status","target":"servicemobility-test","operation":"setUserStatus","userId":"jdoe","status":"inactive"}"#,
                #"{"commandId":"sm-reset","target":"servicemobility-test","operation":"resetPassword","userId":"jdoe"}"#,
                #"{"commandId":"sm-password","target":"servicemobility-test","operation":"changePassword","userId":"jdoe","password":"n3w-Secret-1"}"#,
                #"{"commandId":"sm-teams","target":"servicemobility-test","operation":"assignGroups","userId":"jdoe","groups":["north","south"]}"#,
                #"{"commandId":"sm-get","target":"servicemobility-test","operation":"getUser","userId":"jdoe"}"#,
                #"{"commandId":"sm-create-again","target":"servicemobility-test","operation":"createUser","user":{"userName":"jdoe","email":"else@example.com","givenName":"Someone"}}"#,
                #"{"commandId":"sm-delete","target":"servicemobility-test","operation":"deleteUser","userId":"temp1"}"#,
            ])
            for (id, reply) in changed where id != "sm-create-again" {
                #expect(reply.status == .succeeded, "\(id) \(String(describing: reply.error))")
                #expect(reply.vendorResponse?.httpStatus == 200, "\(id)")
            }
            #expect(changed["sm-create-again"]?.error?.category == .conflict)
            #expect(changed["sm-get"]?.data?["user"]?["userName"] == .string("jdoe"))
            #expect(changed["sm-get"]?.data?["user"]?["familyName"] == .string("Doe-Smith"))

            // What the vendors now hold.
            let tecs = try #require(pipeline.users(.tecs).first)
            #expect(tecs["roles"].map { if case .array(let roles) = $0 { roles.count } else { 0 } } == 1)
            let urac = try #require(pipeline.users(.urac).first)
            #expect(urac["lastName"] == .string("Doe-Smith"))
            #expect(urac["email"] == .string("john@example.com"), "merged: untouched fields stay")
            #expect(urac["groups"] == .array([.string("waiter"), .string("manager")]))
            #expect(urac["password"] == .string("n3w-Secret-1"))
            #expect(urac["status"] == .string("inactive"))
            let sm = try #require(pipeline.users(.servicemobility).first { $0["UserID"] == .string("jdoe") })
            #expect(sm["LastName"] == .string("Doe-Smith"))
            #expect(sm["Email"] == .string("jdoe@example.com"), "merged, and the conflicting create left it unchanged")
            #expect(sm["Activated"] == .bool(false))
            #expect(sm["Password"] == .string("n3w-Secret-1"))
            #expect(sm["ResetPassword"] == .bool(false), "reset, then changed (same key: in that order)")
            #expect(sm["ServiceTeams"] == .array([.string("north"), .string("south")]))
            #expect(sm["Phones"].map { if case .array(let phones) = $0 { phones.count } else { 0 } } == 1)
            #expect(!pipeline.users(.servicemobility).contains { $0["UserID"] == .string("temp1") })
            #expect(pipeline.users(.asms).first?["userName"] == .string("ana"))
            #expect(pipeline.deadLetters.isEmpty)
        }
    }

    @Test("vendor error codes reach the reply, and the categories the contract dead-letters reach the DLQ")
    func errorsAndDeadLetters() async throws {
        try await Pipeline.with { pipeline in
            // One command per vendor and round, so each queued error meets the command meant for it.
            pipeline.simulator.queueError(.tecs, code: "25003")
            pipeline.simulator.queueError(.servicemobility, code: "409")
            pipeline.simulator.queueError(.asms, code: "FailureAddUser", count: 3)  // retryable: every attempt
            var replies = try await pipeline.run([
                #"{"commandId":"tecs-25003","target":"tecs-test","operation":"assignRoles","userId":"u","roles":[{"name":"MP_CORPORATE"}]}"#,
                #"{"commandId":"urac-415","target":"urac-test","operation":"createUser","user":{"userName":"max","email":"max@example.com","givenName":"Max","familyName":"M","password":"s3cret-Pa55","groups":["astronaut"]}}"#,
                #"{"commandId":"sm-409","target":"servicemobility-test","operation":"resetPassword","userId":"jdoe"}"#,
                #"{"commandId":"asms-FailureAddUser","target":"asms-test","operation":"createUser","user":{"userName":"ana","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}}}"#,
            ])
            pipeline.simulator.queueError(.urac, code: "414")
            replies.merge(
                try await pipeline.run([
                    #"{"commandId":"tecs-24012","target":"tecs-test","operation":"createUser","user":{"userName":"nomail"}}"#,
                    #"{"commandId":"urac-414","target":"urac-test","operation":"createUser","user":{"userName":"max","email":"max@example.com","givenName":"Max","familyName":"M"}}"#,
                    #"{"commandId":"sm-410","target":"servicemobility-test","operation":"deleteUser","userId":"ghost"}"#,
                    #"{"commandId":"asms-InvalidConsole","target":"asms-test","operation":"createUser","user":{"userName":"boss","password":"p","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"Boss","registerType":53}}}}"#,
                ])
            ) { first, _ in first }

            let expected: [String: (ErrorCategory, String)] = [
                "tecs-25003": (.unauthorized, "25003"), "urac-415": (.notFound, "415"), "sm-409": (.conflict, "409"),
                "asms-FailureAddUser": (.unavailable, "FailureAddUser"), "tecs-24012": (.validation, "24012"), "urac-414": (.vendorError, "414"),
                "sm-410": (.notFound, "410"), "asms-InvalidConsole": (.validation, "InvalidConsole"),
            ]
            for (id, (category, code)) in expected {
                let reply = try #require(replies[id], "\(id)")
                #expect(reply.status == .failed, "\(id)")
                #expect(reply.error?.category == category, "\(id)")
                #expect(reply.error?.code == code, "\(id)")
                if id != "asms-InvalidConsole" { #expect(reply.vendorResponse?.code == code, "\(id)") }
            }
            #expect(replies["tecs-24012"]?.error?.message.contains("email") == true)

            let deadLetters = try await pipeline.deadLetters(count: 3)
            let lettered = Dictionary(
                uniqueKeysWithValues: deadLetters.map { ($0.headers.string("dlq.error.code") ?? "", $0.headers.string("dlq.error.category") ?? "") })
            #expect(lettered == ["25003": "unauthorized", "FailureAddUser": "unavailable", "414": "vendor_error"])
        }
    }
}

extension VendorEndToEndTests {
    @Test("the whole error table through Kafka: each code in its reply, the dead-lettered categories in the DLQ")
    func wholeErrorTable() async throws {
        // No breaker here: the walk fails on purpose, many times in a row.
        var policy = Pipeline.testPolicy
        policy.breaker = BreakerPolicy(window: 1000, minimumCalls: 1000)
        try await Pipeline.with(policy: policy) { pipeline in
            // One key per vendor, so each vendor's commands run in order and meet their queued
            // errors in order. A 401 comes twice (the adapter renews its token once), a retryable
            // code once per attempt.
            var commands: [String] = []
            var rules: [String: VendorErrorRule] = [:]
            for (index, rule) in VendorErrorTable.rules.enumerated() {
                let id = "walk-\(index)"
                rules[id] = rule
                let target = "\(rule.vendor.rawValue)-test"
                let json =
                    switch (rule.vendor, rule.operation) {
                    case (_, .createUser?):
                        #"{"commandId":"\#(id)","target":"\#(target)","operation":"createUser","user":{"userName":"walk","email":"walk@example.com","givenName":"W","familyName":"K"}}"#
                    case (.tecs, _):
                        #"{"commandId":"\#(id)","target":"\#(target)","operation":"assignRoles","userId":"walk","roles":[{"name":"MP_CORPORATE"}]}"#
                    default: #"{"commandId":"\#(id)","target":"\#(target)","operation":"getUser","userId":"walk"}"#
                    }
                commands.append(json)
                let simulated = SimulatedVendor(rawValue: rule.vendor.rawValue)!
                let twice =
                    rule.vendor == .servicemobility && rule.code == "401" || rule.vendor == .asms && ["InvalidToken", "InvalidCredentials"].contains(rule.code)
                pipeline.simulator.queueError(simulated, code: rule.code, count: twice ? 2 : rule.retryable ? policy.retry.maxAttempts : 1)
            }
            let replies = try await pipeline.run(commands)
            for (id, rule) in rules {
                let reply = try #require(replies[id])
                #expect(reply.error?.category == rule.category, "\(rule.vendor) \(rule.code)")
                #expect(reply.error?.code == rule.code, "\(rule.vendor) \(rule.code)")
                #expect(reply.error?.retryable == rule.retryable, "\(rule.vendor) \(rule.code)")
                #expect(reply.vendorResponse?.code == rule.code, "\(rule.vendor) \(rule.code)")
                #expect(reply.attempts == (rule.retryable ? policy.retry.maxAttempts : 1), "\(rule.vendor) \(rule.code)")
            }
            let expected = rules.filter { $0.value.category.isDeadLettered }
            let deadLetters = try await pipeline.deadLetters(count: expected.count)
            var lettered: [String: String] = [:]
            for letter in deadLetters {
                let command = try CommandDecoder.decode(letter.value).get()
                lettered[command.commandId] = letter.headers.string("dlq.error.code")
            }
            #expect(lettered == expected.mapValues(\.code))
        }
    }
}

/// The worker with real adapters between the embedded cluster and a simulator.
final class Pipeline: Sendable {
    let kafka: WorkerKafka
    let simulator: VendorSimulator
    let server: SimulatorServer
    let http: LeanHTTPClient
    let worker: ProvisioningWorker
    let running: Task<Void, Never>
    let reader: KafkaConsumer
    let producer: KafkaProducer
    let guards = TargetGuards()
    private let collected = Collected()

    final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var replies: [String: ProvisioningReply] = [:]
        var deadLetters: [KafkaConsumerMessage] = []
    }

    /// Fast retries for tests: three attempts, 10 to 50 ms apart.
    static let testPolicy = TargetPolicy(retry: RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(50)))

    static func with(policy: TargetPolicy = testPolicy, timeout: Duration = .seconds(30), _ body: (Pipeline) async throws -> Void) async throws {
        try await WorkerKafka.with { kafka in
            let simulator = VendorSimulator()
            try await SimulatorServer.withRunning(simulator, port: 0, logger: kafka.logger) { server in
                let pipeline = try await Pipeline(kafka: kafka, simulator: simulator, server: server, policy: policy, timeout: timeout)
                do {
                    try await body(pipeline)
                } catch {
                    await pipeline.shutdown()
                    throw error
                }
                await pipeline.shutdown()
            }
        }
    }

    private init(kafka: WorkerKafka, simulator: VendorSimulator, server: SimulatorServer, policy: TargetPolicy, timeout: Duration) async throws {
        self.kafka = kafka
        self.simulator = simulator
        self.server = server
        // As `provisioner run` builds it: a pool per origin with as many connections as the
        // target's maxConcurrency.
        http = LeanHTTPClient()
        let prefixes: [VendorKind: String] = [.tecs: "/usermanagement-backofficews", .urac: "/urac", .servicemobility: "/seiapi/v3", .asms: "/ASMSAPI"]
        let credentials: [VendorKind: [String: Secret]] = [
            .tecs: ["username": Secret("User1"), "password": Secret("Password1")],
            .urac: ["key": Secret("urac-simulator-key"), "accessToken": Secret("urac-simulator-token")],
            .servicemobility: ["username": Secret("smadmin"), "password": Secret("smpassword")],
            .asms: ["username": Secret("asmsadmin"), "password": Secret("asmspassword")],
        ]
        var targets: [String: ProvisioningTarget] = [:]
        for vendor in VendorKind.allCases {
            let name = "\(vendor.rawValue)-test"
            targets[name] = ProvisioningTarget(
                name: name, vendor: vendor, baseURL: server.baseURL + prefixes[vendor]!, credentials: credentials[vendor]!,
                tenant: vendor == .urac ? ["id": "5551aca9e179c39b760f7a1a", "code": "DBTN"] : [:], timeout: timeout, policy: policy
            )
        }
        let processor = CommandProcessor(
            targets: targets, adapters: Adapters.all(http: VendorHTTPClient(lean: http, logger: kafka.logger)), worker: "test/1", guards: guards
        )
        var settings = WorkerSettings(repliesTopic: "replies", deadLettersTopic: "dlq", groupId: "workers", workerId: "test/1")
        settings.commitInterval = .milliseconds(200)
        let producerConfiguration = KafkaProducerConfiguration(bootstrapServers: kafka.cluster.bootstrapServers)
        worker = ProvisioningWorker(
            consumer: try KafkaConsumer(configuration: kafka.consumer(group: "workers", topics: ["commands"]), logger: kafka.logger),
            producer: try KafkaProducer(configuration: producerConfiguration, logger: kafka.logger),
            processor: processor, settings: settings, logger: kafka.logger
        )
        running = Task { [worker] in await worker.runUntilStopped() }
        reader = kafka.run(try KafkaConsumer(configuration: kafka.consumer(group: "reader", topics: ["replies", "dlq"]), logger: kafka.logger))
        producer = kafka.run(try KafkaProducer(configuration: producerConfiguration, logger: kafka.logger))
    }

    /// Re-publishes the dead letters to the commands topic as `provisioner dlq replay` does.
    func replay(_ letters: [KafkaConsumerMessage]) async throws {
        for letter in letters {
            try await producer.send(
                KafkaProducerMessage(topic: "commands", key: letter.key, value: letter.value, headers: letter.headers.filter { !$0.key.hasPrefix("dlq.") }))
        }
    }

    /// Replies seen so far, by commandId (the latest one for each).
    var replies: [String: ProvisioningReply] { collected.lock.withLock { collected.replies } }

    /// Publishes the commands keyed as `provisioner send` keys them and returns their replies by commandId.
    func run(_ commands: [String]) async throws -> [String: ProvisioningReply] {
        var ids: Set<String> = []
        for json in commands {
            let command = try CommandDecoder.decode(Array(json.utf8)).get()
            ids.insert(command.commandId)
            try await producer.send(KafkaProducerMessage(topic: "commands", key: Array(command.derivedKey.utf8), value: Array(json.utf8)))
        }
        let wanted = ids
        try await read { collected in wanted.allSatisfy { collected.replies[$0] != nil } }
        return collected.lock.withLock { collected.replies.filter { wanted.contains($0.key) } }
    }

    func deadLetters(count: Int) async throws -> [KafkaConsumerMessage] {
        try await read { $0.deadLetters.count >= count }
        return deadLetters
    }

    var deadLetters: [KafkaConsumerMessage] { collected.lock.withLock { collected.deadLetters } }

    /// Reads replies and dead letters until `done` holds (a minute at most).
    func read(until done: @escaping @Sendable (Collected) -> Bool) async throws {
        let (reader, collected) = (self.reader, self.collected)
        if collected.lock.withLock({ done(collected) }) { return }
        try await withDeadline(60) {
            for await message in reader.messages {
                let finished = collected.lock.withLock { () -> Bool in
                    if message.topic == "replies", let value = message.value,
                        let reply = try? ProvisioningReply(decoding: value), let id = reply.commandId
                    {
                        collected.replies[id] = reply
                    } else if message.topic == "dlq" {
                        collected.deadLetters.append(message)
                    }
                    return done(collected)
                }
                if finished { return }
            }
        }
    }

    func users(_ vendor: SimulatedVendor) -> [[String: JSONValue]] {
        simulator.users(vendor).compactMap { if case .object(let object) = $0 { object } else { nil } }
    }

    func shutdown() async {
        worker.stop()
        await running.value
        await kafka.stop(reader)
        await kafka.stop(producer)
        await http.shutdown()
    }
}
