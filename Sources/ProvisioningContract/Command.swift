import Foundation

/// A provisioning command as upstream systems publish it (contract section 2), validated.
public struct ProvisioningCommand: Sendable, Hashable {
    public static let schema = "provisioning.command/v1"

    public var commandId: String
    public var correlationId: String?
    public var target: String
    public var operation: Operation
    /// The vendor's id of an existing user (`vendorUserId` of its `createUser` reply).
    public var userId: String?
    public var user: CanonicalUser?
    public var roles: [Role]?
    public var groups: [String]?
    public var status: UserStatus?
    public var password: Secret?
    public var dryRun: Bool
    public var notAfter: Date?

    public init(
        commandId: String, correlationId: String? = nil, target: String, operation: Operation, userId: String? = nil,
        user: CanonicalUser? = nil, roles: [Role]? = nil, groups: [String]? = nil, status: UserStatus? = nil,
        password: Secret? = nil, dryRun: Bool = false, notAfter: Date? = nil
    ) {
        self.commandId = commandId
        self.correlationId = correlationId
        self.target = target
        self.operation = operation
        self.userId = userId
        self.user = user
        self.roles = roles
        self.groups = groups
        self.status = status
        self.password = password
        self.dryRun = dryRun
        self.notAfter = notAfter
    }

    /// The ordering key of a command published without a Kafka key: `<target>:<userId or user.userName>`.
    public var derivedKey: String {
        "\(target):\(userId ?? user?.userName ?? "")"
    }
}

/// The operations of contract section 3.
public enum Operation: String, Sendable, Hashable, CaseIterable, Codable {
    case createUser, updateUser, deleteUser, getUser, setUserStatus, changePassword, resetPassword
    case assignRoles, removeRoles, assignGroups

    /// The command fields the operation needs besides `target` (contract section 3, "needs").
    public var requiredFields: [String] {
        switch self {
        case .createUser: ["user"]
        case .updateUser: ["userId", "user"]
        case .deleteUser, .getUser, .resetPassword: ["userId"]
        case .setUserStatus: ["userId", "status"]
        case .changePassword: ["userId", "password"]
        case .assignRoles, .removeRoles: ["userId", "roles"]
        case .assignGroups: ["userId", "groups"]
        }
    }
}

public enum UserStatus: String, Sendable, Hashable, Codable {
    case active, inactive
}

public struct Role: Sendable, Hashable, Codable {
    public var name: String
    /// Where the role applies (TECS: the corporate UUID).
    public var scope: String?

    public init(name: String, scope: String? = nil) {
        self.name = name
        self.scope = scope
    }
}

/// The vendor-neutral user of contract section 3. Absent fields mean "not mentioned":
/// a partial `updateUser` leaves them as they are at the vendor.
public struct CanonicalUser: Sendable, Hashable, Codable {
    public var userName: String?
    public var email: String?
    public var givenName: String?
    public var familyName: String?
    public var displayName: String?
    public var salutation: String?
    /// `yyyy-MM-dd`.
    public var birthDate: String?
    public var phone: String?
    public var mobile: String?
    public var address: Address?
    public var locale: String?
    public var active: Bool?
    public var password: Secret?
    public var documents: Documents?
    public var groups: [String]?
    /// Fields only one vendor has, by vendor kind; the adapter validates and forwards them.
    public var extensions: [String: JSONValue]?

    public init() {}

    public struct Address: Sendable, Hashable, Codable {
        public var street1: String?
        public var street2: String?
        public var city: String?
        public var state: String?
        public var postalCode: String?
        public var country: String?

        public init(
            street1: String? = nil, street2: String? = nil, city: String? = nil, state: String? = nil, postalCode: String? = nil, country: String? = nil
        ) {
            self.street1 = street1
            self.street2 = street2
            self.city = city
            self.state = state
            self.postalCode = postalCode
            self.country = country
        }
    }

    /// Identity documents: personal data, kept as secrets.
    public struct Documents: Sendable, Hashable, Codable {
        public var nationalId: Secret?
        public var passport: Secret?
        public var driverLicence: Secret?

        public init(nationalId: Secret? = nil, passport: Secret? = nil, driverLicence: Secret? = nil) {
            self.nationalId = nationalId
            self.passport = passport
            self.driverLicence = driverLicence
        }
    }
}
