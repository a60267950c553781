// The SwiftUI app: opens the one FieldPhone (store in Application Support, the device's
// signing key sealed by the Keychain; see KeychainVault.swift) and registers
// the background sync (BGTaskScheduler), which makes the same call as "sync now".
import BackgroundTasks
import SwiftUI

@main
struct FieldloopApp: App {
    /// The phone, or why it could not open (the device's key cannot be unsealed).
    private let opened: Result<FieldPhone, FieldError>

    init() {
        opened = AppModel.open()
        BGTaskScheduler.shared.register(forTaskWithIdentifier: "cn.fieldloop.sync", using: nil) { task in
            AppModel.backgroundSync(task: task as! BGProcessingTask)
        }
    }

    var body: some Scene {
        WindowGroup {
            switch opened {
            case .success(let phone):
                Root(phone: phone)
            case .failure(let error):
                Text(Words.error(error)).padding()
            }
        }
    }
}

/// The screens over one AppModel, kept for the app's life.
@MainActor
struct Root: View {
    @StateObject private var model: AppModel

    init(phone: FieldPhone) {
        _model = StateObject(wrappedValue: AppModel(phone: phone))
    }

    var body: some View {
        ContentView().environmentObject(model)
    }
}
