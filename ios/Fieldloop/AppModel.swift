// State for the screens, over the generated Swift bindings; the same calls as the
// Android logic module (android/logic), checked against the generated bindings by
// bindings/tests/check_app_calls.py.
import Foundation
import BackgroundTasks

let serverURL = "https://fieldloop.example.cn"

func storeDirectory() -> String {
    let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
    return base.appendingPathComponent("fieldloop").path
}

@MainActor
final class AppModel: ObservableObject {
    let phone: FieldPhone
    @Published var me: Me?
    @Published var tasks: [Task] = []
    @Published var syncLine = ""
    @Published var syncing = false
    @Published var error: String?
    private var handle: SyncHandle?

    init(phone: FieldPhone) {
        self.phone = phone
        me = try? phone.whoAmI()
    }

    /// Opens the store with the device's signing key sealed by the Keychain.
    nonisolated static func openPhone() throws -> FieldPhone {
        try FieldPhone.openWithVault(storeDir: storeDirectory(), serverUrl: serverURL, vault: KeychainVault())
    }

    /// The phone, or why it cannot open (the Keychain cannot unseal the device's key): the
    /// app shows the reason instead of stopping.
    nonisolated static func open() -> Result<FieldPhone, FieldError> {
        do {
            return .success(try openPhone())
        } catch let e as FieldError {
            return .failure(e)
        } catch {
            return .failure(.Storage(reason: "\(error)"))
        }
    }

    func login(user: String, password: String) async {
        do {
            let session = try phone.login(username: user, password: password)
            try phone.registerDevice(name: UIDeviceName.current)
            me = session.me
            refresh()
        } catch let e as FieldError {
            error = Words.error(e)
        } catch {}
    }

    func logout() {
        try? phone.logout()
        me = nil
    }

    func refresh() {
        tasks = (try? phone.inbox(filter: .all)) ?? []
    }

    func syncNow() async {
        syncing = true
        let started = phone.startSync(listener: Listener(model: self))
        handle = started
        do {
            let result = try await started.result()
            syncLine = "已同步: 上传 \(result.photosUploaded) 张照片, 发送 \(result.docsPushed) 份, 收到 \(result.docsReceived) 份"
        } catch let e as FieldError {
            error = Words.error(e)
        } catch {}
        handle = nil
        syncing = false
        refresh()
    }

    func cancelSync() {
        handle?.cancel()
    }

    nonisolated static func backgroundSync(task: BGProcessingTask) {
        let work = _Concurrency.Task {
            let phone = try AppModel.openPhone()
            _ = try await phone.syncNow()
        }
        task.expirationHandler = { work.cancel() }
        _Concurrency.Task {
            let ok = (try? await work.value) != nil
            task.setTaskCompleted(success: ok)
        }
    }

    final class Listener: SyncListener {
        weak var model: AppModel?
        init(model: AppModel) { self.model = model }
        func onProgress(progress: SyncProgress) {
            let line = "正在同步 照片 \(progress.photosUploaded)/\(progress.photosTotal), 文档 \(progress.docsPushed)/\(progress.docsReceived)"
            DispatchQueue.main.async { self.model?.syncLine = line }
        }
    }
}

enum Words {
    static func band(_ band: Band?) -> String {
        switch band {
        case .green: return "正常"
        case .yellow: return "预警"
        case .red: return "超期"
        case .escalated: return "督办"
        case nil: return "无时限"
        }
    }

    static func countdown(_ minutes: Int64?) -> String {
        guard let minutes else { return "无时限" }
        let m = abs(minutes)
        let text = m >= 60 ? "\(m / 60) 工作时 \(m % 60) 分" : "\(m) 分"
        return minutes < 0 ? "超期 \(text)" : "剩余 \(text)"
    }

    static func error(_ e: FieldError) -> String {
        switch e {
        case .Offline: return "网络不可用, 已保存在手机上, 联网后自动同步"
        case .Unauthorized: return "登录已失效, 请重新登录"
        case .Forbidden(let reason): return "无权操作: \(reason)"
        case .InvalidInput(let field, let reason): return "请检查 \(field): \(reason)"
        case .PhotoUnreadable(_, let reason): return "照片无法使用, 请重拍: \(reason)"
        case .NotFound(let what): return "未找到: \(what)"
        case .Server(let reason): return "服务器拒绝: \(reason)"
        case .Storage(let reason): return "手机存储出错: \(reason)"
        case .DeviceKeyUnavailable(let reason): return "设备签名密钥无法从系统密钥库取出, 取证照片无法签名. 请解锁手机后重新打开应用; 仍不行请联系管理员, 不要自行卸载重装: \(reason)"
        case .Cancelled: return "已取消"
        }
    }
}

enum UIDeviceName {
    static var current: String { ProcessInfo.processInfo.hostName }
}
