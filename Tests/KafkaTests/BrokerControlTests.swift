import EmbeddedKafka
import Kafka
import ProvisioningContract
import Testing

/// The fault-injection API (contract section 9) in process: each call's answer and its effect
/// on the embedded cluster a client sees.
@Suite("Broker control, in process", .timeLimit(.minutes(10)))
struct BrokerControlTests {
    static func call(_ control: BrokerControl, _ method: String, _ path: String, _ body: String = "") -> BrokerControl.Answer {
        control.handle(method: method, path: path.split(separator: "/"), body: Array(body.utf8))
    }

    @Test("down, up, round-trip time and a leader move answer with the state; a client sees the moved leader; bad calls name the field or the path")
    func calls() async throws {
        try await TestCluster.with { kafka in
            let cluster = try EmbeddedCluster.start(brokers: 3, partitions: 2, logger: kafka.logger)
            let control = BrokerControl(cluster: cluster, topics: Dictionary(uniqueKeysWithValues: EmbeddedCluster.contractTopics.map { ($0, 2) }))

            let down = Self.call(control, "POST", "brokers/2/down")
            #expect(down.status == 200)
            #expect(down.body["brokers"]?.arrayValue?.first { $0["id"] == .integer(2) }?["up"] == .bool(false))
            #expect(Self.call(control, "POST", "brokers/2/up").body["brokers"]?.arrayValue?.allSatisfy { $0["up"] == .bool(true) } == true)
            let rtt = Self.call(control, "POST", "brokers/3/rtt", #"{"ms":250}"#)
            #expect(rtt.body["brokers"]?.arrayValue?.first { $0["id"] == .integer(3) }?["rttMs"] == .integer(250))

            let moved = Self.call(control, "POST", "partitions/provisioning.commands/1/leader", #"{"broker":3}"#)
            #expect(moved.status == 200)
            #expect(moved.body["topics"]?["provisioning.commands"]?["leaders"]?["1"] == .integer(3))
            let metadata = try await KafkaAdminClient.with(bootstrapServers: cluster.bootstrapServers, logger: kafka.logger) { try await $0.metadata() }
            #expect(metadata.topic("provisioning.commands")?.partitions.first { $0.id == 1 }?.leader == 3)

            #expect(Self.call(control, "POST", "brokers/9/down").status == 404)
            #expect(Self.call(control, "POST", "brokers/1/rtt", #"{"ms":-1}"#).body["field"] == .string("ms"))
            #expect(Self.call(control, "POST", "errors", #"{"api":"Nope","errors":[]}"#).body["field"] == .string("api"))
            #expect(Self.call(control, "POST", "errors", #"{"api":"Produce","errors":["NOT_A_CODE"]}"#).body["field"] == .string("errors[0]"))
            #expect(Self.call(control, "POST", "errors", "not json").body["field"] == .string("body"))
            #expect(Self.call(control, "DELETE", "state").status == 404)
        }
    }
}
