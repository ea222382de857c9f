import AsyncHTTPClient
import Foundation
import Kafka
import Logging
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// `provisioner broker --control-port`, driven over HTTP from this process (contract section 9):
/// what a chaos run or a test in another process relies on.
@Suite("provisioner broker --control-port", .timeLimit(.minutes(10)))
struct BrokerControlTests {
    /// A broker subprocess with its bootstrap list and control URL.
    struct ControlledBroker {
        let process: ProvisionerProcess
        let bootstrap: String
        let control: String

        init(brokers: Int = 3, partitions: Int = 4) async throws {
            process = try ProvisionerProcess(arguments: ["broker", "--brokers", "\(brokers)", "--partitions", "\(partitions)", "--control-port", "0"])
            bootstrap = try await process.firstLine()
            let second = try await process.nextLine()
            guard second.hasPrefix("control http://127.0.0.1:") else { throw CLIError("second line is not the control URL: \(second)") }
            control = String(second.dropFirst("control ".count))
        }

        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: [String: Any]) {
            var request = HTTPClientRequest(url: control + path)
            request.method = method
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let json = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] ?? [:]
            return (Int(response.status.code), json)
        }

        func post(_ path: String, _ body: String? = nil) async throws -> (status: Int, json: [String: Any]) {
            try await call(.POST, path, body)
        }

        /// The assertion librdkafka's mock cluster aborted the process with, if it did: the test
        /// cluster failing, not the client under test (docs/worker-core.md, "The embedded
        /// cluster's own failures").
        var mockAssertion: String? {
            process.errorsSoFar.split(separator: "\n").first { $0.contains("rdkafka_mock") && $0.contains("Assertion") }.map(String.init)
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "control-test")
        logger.logLevel = .critical
        return logger
    }()

    @Test("answers with the brokers and topics, names a bad field with 400, an unknown broker, topic or partition with 404, and listens on loopback only")
    func stateAndValidation() async throws {
        let broker = try await ControlledBroker(brokers: 3, partitions: 4)
        defer { broker.process.kill() }

        let state = try await broker.call(.GET, "/state")
        #expect(state.status == 200)
        let brokers = state.json["brokers"] as? [[String: Any]] ?? []
        #expect(brokers.map { $0["id"] as? Int } == [1, 2, 3])
        #expect(brokers.allSatisfy { $0["up"] as? Bool == true && $0["rttMs"] as? Int == 0 })
        let topics = state.json["topics"] as? [String: [String: Any]] ?? [:]
        #expect(
            Set(topics.keys) == ["provisioning.commands", "provisioning.replies", "provisioning.dlq", "provisioning.status", "provisioning.dlq.replays"],
            "section 1's topics, the status and redrive-audit ones too")
        #expect(topics.values.allSatisfy { $0["partitions"] as? Int == 4 })

        let refused: [(path: String, body: String?, status: Int, field: String?)] = [
            ("/brokers/one/down", nil, 400, "id"),
            ("/brokers/4/down", nil, 404, nil),
            ("/brokers/0/up", nil, 404, nil),
            ("/brokers/1/rtt", nil, 400, "body"),
            ("/brokers/1/rtt", "not json", 400, "body"),
            ("/brokers/1/rtt", #"{"ms":"300"}"#, 400, "ms"),
            ("/brokers/1/rtt", #"{"ms":-1}"#, 400, "ms"),
            ("/brokers/9/rtt", #"{"ms":300}"#, 404, nil),
            ("/errors", #"{"errors":["REQUEST_TIMED_OUT"]}"#, 400, "api"),
            ("/errors", #"{"api":"Produc","errors":["REQUEST_TIMED_OUT"]}"#, 400, "api"),
            ("/errors", #"{"api":"Produce"}"#, 400, "errors"),
            ("/errors", #"{"api":"Produce","errors":["REQUEST_TIMED_OUT","NO_SUCH_ERROR"]}"#, 400, "errors[1]"),
            ("/errors", #"{"api":"Produce","errors":["REQUEST_TIMED_OUT"],"broker":7}"#, 404, nil),
            ("/partitions/provisioning.commands/x/leader", #"{"broker":2}"#, 400, "partition"),
            ("/partitions/provisioning.commands/4/leader", #"{"broker":2}"#, 404, nil),
            ("/partitions/no.such.topic/0/leader", #"{"broker":2}"#, 404, nil),
            ("/partitions/provisioning.commands/0/leader", #"{}"#, 400, "broker"),
            ("/partitions/provisioning.commands/0/leader", #"{"broker":5}"#, 404, nil),
            ("/coordinator", #"{"type":"cluster","key":"g","broker":1}"#, 400, "type"),
            ("/coordinator", #"{"type":"group","broker":1}"#, 400, "key"),
            ("/coordinator", #"{"type":"group","key":"g","broker":"1"}"#, 400, "broker"),
            ("/coordinator", #"{"type":"transaction","key":"t","broker":4}"#, 404, nil),
            ("/brokers", nil, 404, nil),
        ]
        for call in refused {
            let answer = try await broker.post(call.path, call.body)
            #expect(answer.status == call.status, "\(call.path) \(call.body ?? "")")
            #expect(answer.json["field"] as? String == call.field, "\(call.path) \(call.body ?? "")")
            #expect(answer.json["error"] as? String != nil, "\(call.path): says why")
        }
        // Nothing refused changed anything.
        #expect(NSDictionary(dictionary: try await broker.call(.GET, "/state").json) == NSDictionary(dictionary: state.json))

        let port = Int(broker.control.split(separator: ":").last!)!
        #expect(canConnect(host: "127.0.0.1", port: port))
        let others = nonLoopbackAddresses()
        for address in others {
            #expect(!canConnect(host: address, port: port), "the control API answers on \(address)")
        }
        if others.isEmpty { print("no address but loopback on this machine: loopback-only checked by the bound address alone") }

        broker.process.terminate()
        #expect(try await broker.process.exitCode() == 0)
    }

    @Test(
        "each fault reaches a Kafka client: a down broker's partition times out until it is up, RTT delays it, request errors fail it by name, leader and coordinator moves show"
    )
    func faultsReachClients() async throws {
        try await withKafkaClients { clients in
            let broker = try await ControlledBroker(brokers: 3, partitions: 4)
            defer { broker.process.kill() }
            let topic = "provisioning.commands"
            let admin = clients.run(try KafkaAdminClient(bootstrapServers: broker.bootstrap, logger: Self.logger))
            func leader(_ partition: Int32) async throws -> Int32? {
                try await admin.metadata().topic(topic)?.partitions.first { $0.id == partition }?.leader
            }

            // Leader move: the metadata any client reads names the new leader.
            let before = try #require(try await leader(0))
            let moved: Int32 = before == 3 ? 2 : 3
            let move = try await broker.post("/partitions/\(topic)/0/leader", #"{"broker":\#(moved)}"#)
            #expect(move.status == 200)
            #expect(((move.json["topics"] as? [String: [String: Any]])?[topic]?["leaders"] as? [String: Int])?["0"] == Int(moved))
            #expect(try await leader(0) == moved)

            // Broker down: sends to the partition it leads time out; after it is up they land.
            var configuration = KafkaProducerConfiguration(bootstrapServers: broker.bootstrap)
            configuration.properties = ["message.timeout.ms": "3000", "reconnect.backoff.max.ms": "200"]
            let producer = clients.run(try KafkaProducer(configuration: configuration, logger: Self.logger))
            func send(_ producer: KafkaProducer) async -> Result<KafkaDeliveryReport, KafkaError> {
                do throws(KafkaError) {
                    return .success(try await producer.send(KafkaProducerMessage(topic: topic, partition: 0, key: Array("k".utf8), value: Array("v".utf8))))
                } catch {
                    return .failure(error)
                }
            }
            guard case .success = await send(producer) else {
                Issue.record("a send before any fault failed")
                return
            }
            #expect(try await broker.post("/brokers/\(moved)/down").status == 200)
            let whileDown = await send(producer)
            #expect(whileDown.failure?.code == .messageTimedOut, "\(whileDown)")
            let up = try await broker.post("/brokers/\(moved)/up")
            #expect((up.json["brokers"] as? [[String: Any]])?.allSatisfy { $0["up"] as? Bool == true } == true)
            var landed = false
            for _ in 0..<5 where !landed {
                if case .success = await send(producer) { landed = true }
            }
            #expect(landed, "the partition takes records again once its leader is up")

            // Round-trip time: a send waits at least that long.
            #expect(try await broker.post("/brokers/\(moved)/rtt", #"{"ms":800}"#).status == 200)
            let started = ContinuousClock.now
            guard case .success = await send(producer) else {
                Issue.record("a send with RTT failed")
                return
            }
            #expect(ContinuousClock.now - started >= .milliseconds(800))
            let cleared = try await broker.post("/brokers/\(moved)/rtt", #"{"ms":0}"#)
            #expect((cleared.json["brokers"] as? [[String: Any]])?.allSatisfy { $0["rttMs"] as? Int == 0 } == true)

            // Request errors: the next Produce is refused with the named error; the one after lands
            // (from a new producer: librdkafka keeps a topic's authorization error until its next
            // metadata refresh).
            #expect(try await broker.post("/errors", #"{"api":"Produce","errors":["TOPIC_AUTHORIZATION_FAILED"]}"#).status == 200)
            let refused = await send(producer)
            #expect(refused.failure?.code.protocolName == "TOPIC_AUTHORIZATION_FAILED", "\(refused)")
            await clients.stop(producer)
            let second = clients.run(try KafkaProducer(configuration: configuration, logger: Self.logger))
            let after = await send(second)
            guard case .success = after else {
                Issue.record("the send after the injected error failed: \(after)")
                return
            }
            await clients.stop(second)
            await clients.stop(admin)

            // Coordinator moves: each group's members find their coordinator where it was moved.
            for target: Int32 in [1, 2, 3] {
                let group = "control-test-\(target)"
                #expect(try await broker.post("/coordinator", #"{"type":"group","key":"\#(group)","broker":\#(target)}"#).status == 200)
                #expect(try await coordinator(of: group, bootstrap: broker.bootstrap) == target, "group \(group)")
            }
            let state = try await broker.call(.GET, "/state")
            #expect((state.json["coordinators"] as? [[String: Any]])?.count == 3)

            broker.process.terminate()
            #expect(try await broker.process.exitCode() == 0)
        }
    }

    /// The broker id a member of `group` reports as its coordinator, from librdkafka's statistics
    /// (the `GroupCoordinator` entry takes the node id of the broker FindCoordinator named).
    private func coordinator(of group: String, bootstrap: String) async throws -> Int32? {
        return try await withKafkaClients { clients in
            var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupId: group, topics: ["provisioning.commands"])
            configuration.properties = ["statistics.interval.ms": "100", "session.timeout.ms": "6000"]
            let consumer = clients.run(try KafkaConsumer(configuration: configuration, logger: Self.logger))
            let found = try await withDeadline(30) {
                for await sample in consumer.statistics {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(sample.json.utf8)) as? [String: Any],
                        let brokers = object["brokers"] as? [String: [String: Any]],
                        let entry = brokers["GroupCoordinator"], let id = entry["nodeid"] as? Int, id > 0, entry["state"] as? String == "UP"
                    else { continue }
                    return Int32?(Int32(id))
                }
                return nil
            }
            await clients.stop(consumer)
            return found
        }
    }

    private func canConnect(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// This machine's IPv4 addresses other than loopback.
    private func nonLoopbackAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !text.hasPrefix("127.") { addresses.append(text) }
        }
        return addresses
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
