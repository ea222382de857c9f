import Provisioning
import ProvisioningContract

/// The adapter of every vendor kind, over one shared HTTP client: what `provisioner run` routes to.
public enum Adapters {
    public static func all(http: VendorHTTPClient) -> [VendorKind: any VendorAdapter] {
        [
            .tecs: TECSAdapter(http: http),
            .urac: URACAdapter(http: http),
            .servicemobility: ServiceMobilityAdapter(http: http),
            .asms: ASMSAdapter(http: http),
        ]
    }
}
