// CoreLocation with background updates for patrols; the mock flag is
// `sourceInformation.isSimulatedBySoftware` (iOS 15+).
import CoreLocation

final class LocationService: NSObject, CLLocationManagerDelegate {
    private let manager = CLLocationManager()
    var onFix: ((PositionFix, Int64) -> Void)?

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
        manager.allowsBackgroundLocationUpdates = true
        manager.pausesLocationUpdatesAutomatically = false
        manager.showsBackgroundLocationIndicator = true
    }

    func start() {
        manager.requestAlwaysAuthorization()
        manager.startUpdatingLocation()
    }

    func stop() {
        manager.stopUpdatingLocation()
    }

    func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        for location in locations {
            let mock = location.sourceInformation?.isSimulatedBySoftware ?? false
            let fix = PositionFix(
                lat: location.coordinate.latitude,
                lon: location.coordinate.longitude,
                accuracyM: location.horizontalAccuracy,
                provider: "corelocation",
                mock: mock
            )
            onFix?(fix, Int64(location.timestamp.timeIntervalSince1970 * 1000))
        }
    }
}
