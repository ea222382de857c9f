/// The vendor kinds a target can be (contract section 3), with what each supports.
public enum VendorKind: String, Sendable, Hashable, CaseIterable, Codable {
    case tecs, urac, servicemobility, asms

    /// The capability table of contract section 3 (M and S rows). An operation outside it is
    /// answered `unsupported_operation` before any adapter runs.
    public var supportedOperations: Set<Operation> {
        switch self {
        case .tecs: [.createUser, .updateUser, .setUserStatus, .resetPassword, .assignRoles, .removeRoles]
        case .urac: [.createUser, .updateUser, .deleteUser, .getUser, .setUserStatus, .changePassword, .assignGroups]
        case .servicemobility: [.createUser, .updateUser, .deleteUser, .getUser, .setUserStatus, .changePassword, .resetPassword, .assignGroups]
        case .asms: [.createUser, .updateUser, .getUser, .setUserStatus]
        }
    }
}
