import ArgumentParser
struct Broker: AsyncParsableCommand {}
struct Dev: AsyncParsableCommand {}
