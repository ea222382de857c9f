// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "provisioner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "provisioner", targets: ["provisioner"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "ProvisioningContract", targets: ["ProvisioningContract"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
    ],
    targets: [
        // librdkafka from the system (Debian: librdkafka-dev), never vendored.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Kafka client and embedded cluster over librdkafka. Knows nothing of provisioning.
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The wire format of contract sections 2 to 5: commands, users, replies. No Kafka, no vendors.
        .target(name: "ProvisioningContract"),
        // Contract section 7: YAML, environment overrides, secrets, validation.
        .target(
            name: "ProvisionerConfiguration",
            dependencies: ["ProvisioningContract", .product(name: "Yams", package: "Yams")]
        ),
        // Routing and the vendor adapter interface: from a record's value to its reply. No Kafka.
        .target(name: "Provisioning", dependencies: ["ProvisioningContract"]),
        // The worker: Kafka in, key-ordered concurrency, replies and dead letters out, commits.
        .target(
            name: "Worker",
            dependencies: [
                "Kafka", "Provisioning", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "provisioner",
            dependencies: [
                "Kafka", "Worker", "Provisioning", "ProvisioningContract", "ProvisionerConfiguration",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: [
                "Kafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Runs the built `provisioner` as other processes would.
        .testTarget(
            name: "ProvisionerCLITests",
            dependencies: [
                "provisioner",
                "Kafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProvisioningContractTests",
            dependencies: ["ProvisioningContract"]
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "Kafka", "Provisioning", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProvisionerConfigurationTests",
            dependencies: ["ProvisionerConfiguration", "ProvisioningContract"]
        ),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: ["Provisioning", "ProvisioningContract"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
