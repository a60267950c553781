// The SwiftUI app: opens the one FieldPhone (store in Application Support) and registers
// the background sync (BGTaskScheduler), which makes the same call as "sync now".
import BackgroundTasks
import SwiftUI

@main
struct FieldloopApp: App {
    @StateObject private var model = AppModel()

    init() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: "cn.fieldloop.sync", using: nil) { task in
            AppModel.backgroundSync(task: task as! BGProcessingTask)
        }
    }

    var body: some Scene {
        WindowGroup {
            ContentView().environmentObject(model)
        }
    }
}
