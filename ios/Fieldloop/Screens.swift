// The SwiftUI screens: thin views over AppModel and the bindings.
import SwiftUI

struct ContentView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        if model.me == nil {
            LoginView()
        } else {
            TabView {
                InboxView().tabItem { Text("任务") }
                CaptureView().tabItem { Text("上报") }
                PatrolView().tabItem { Text("巡查") }
            }
            .safeAreaInset(edge: .top) {
                HStack {
                    Text(model.error ?? model.syncLine).font(.footnote)
                    Spacer()
                    if model.syncing {
                        Button("取消") { model.cancelSync() }
                    } else {
                        Button("同步") { _Concurrency.Task { await model.syncNow() } }
                    }
                }.padding(.horizontal)
            }
        }
    }
}

struct LoginView: View {
    @EnvironmentObject var model: AppModel
    @State private var user = ""
    @State private var password = ""

    var body: some View {
        Form {
            TextField("用户名", text: $user)
            SecureField("密码", text: $password)
            Button("登录") { _Concurrency.Task { await model.login(user: user, password: password) } }
            if let error = model.error { Text(error).foregroundColor(.red) }
        }
    }
}

struct InboxView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        List(model.tasks, id: \.id) { task in
            HStack {
                Circle().fill(colour(task.band)).frame(width: 12, height: 12)
                VStack(alignment: .leading) {
                    Text(task.title)
                    Text("\(Words.band(task.band)) · \(Words.countdown(task.remainingWorkingMinutes))").font(.caption)
                }
            }
        }
        .onAppear { model.refresh() }
    }

    func colour(_ band: Band?) -> Color {
        switch band {
        case .green: return .green
        case .yellow: return .yellow
        case .red: return .red
        case .escalated: return .purple
        case nil: return .gray
        }
    }
}

struct CaptureView: View {
    @EnvironmentObject var model: AppModel
    @State private var query = ""
    @State private var categories: [CategoryView] = []
    @State private var picked: CategoryView?
    @State private var fix: PositionFix?
    @State private var cell: String?
    @State private var photos: [String] = []
    @State private var message: String?
    /// Open cases on the phone this report may duplicate (疑似重复); a second tap saves anyway.
    @State private var duplicates: [NearbyCase] = []
    @State private var duplicatesSeen = false
    private let location = LocationService()

    var body: some View {
        Form {
            TextField("问题类别 (代码或名称)", text: $query)
                .onChange(of: query) { q in categories = (try? model.phone.searchCategories(query: q)) ?? [] }
            ForEach(categories.prefix(8), id: \.key) { c in
                Button("\(c.key) \(c.major)/\(c.name)") { picked = c; checkDuplicates() }
            }
            if let nearest = duplicates.first {
                Text("附近 \(Int(nearest.distanceM)) 米已有同类案件「\(nearest.title)」, 可能重复上报").foregroundColor(.orange)
            }
            Text(cell.map { "网格: \($0)" } ?? "网格: 未定位")
            if fix?.mock == true { Text("检测到模拟定位, 该位置将被标记").foregroundColor(.orange) }
            Button("保存 (离线)") { _Concurrency.Task { await save() } }
                .disabled(picked == nil || fix == nil || photos.isEmpty)
            if let message { Text(message) }
        }
        .onAppear {
            location.onFix = { f, _ in
                fix = f
                cell = try? model.phone.gridCellAt(lat: f.lat, lon: f.lon)
                checkDuplicates()
            }
            location.start()
        }
        .onDisappear { location.stop() }
    }

    func checkDuplicates() {
        guard let picked, let fix else { return }
        duplicates = (try? model.phone.nearbyDuplicates(category: picked.key, lat: fix.lat, lon: fix.lon)) ?? []
        duplicatesSeen = false
    }

    func save() async {
        guard let picked, let fix else { return }
        if !duplicates.isEmpty && !duplicatesSeen {
            duplicatesSeen = true
            message = "可能重复上报, 确认不是同一问题请再点一次保存"
            return
        }
        let draft = CaseDraft(category: picked.key, position: fix, description: nil, address: nil,
                              urgent: false, componentId: nil, photoPaths: photos)
        do {
            let id = try await model.phone.captureCase(draft: draft)
            message = "已保存 \(id.prefix(8))"
        } catch let e as FieldError {
            message = Words.error(e)
        } catch {}
    }
}

struct VerifyView: View {
    @EnvironmentObject var model: AppModel
    let caseId: String
    let photo: PhotoInput
    @State private var warnings: [String] = []

    var body: some View {
        Form {
            ForEach(warnings, id: \.self) { Text("⚠ \($0)").foregroundColor(.red) }
            Button("预检") { _Concurrency.Task { await precheck() } }
            Button("提交核查") {
                _Concurrency.Task {
                    let phone = model.phone
                    try? await phone.submitVerification(caseId: caseId, fixed: true, note: nil, photos: [photo])
                }
            }
        }
    }

    func precheck() async {
        let phone = model.phone
        if let report = try? await phone.precheckVerification(caseId: caseId, fixed: true, photos: [photo]) {
            warnings = report.warnings.map { "\($0.name): \($0.reason)" }
        }
    }
}

struct PatrolView: View {
    @EnvironmentObject var model: AppModel
    @State private var patrolId: String?
    @State private var live: PatrolLive?
    @State private var paused = false
    @State private var buffer: [Fix] = []
    private let location = LocationService()

    var body: some View {
        Form {
            if let patrolId {
                Text(String(format: "%.2f 公里 · %d 分钟", live?.lengthM ?? 0 / 1000, (live?.durationMs ?? 0) / 60000))
                if let share = live?.river?.coverage.share { Text("河段覆盖 \(Int(share * 100))%") }
                Button(paused ? "继续" : "暂停") {
                    let phone = model.phone
                    if paused { try? phone.resumePatrol(patrolId: patrolId) } else { try? phone.pausePatrol(patrolId: patrolId) }
                    paused.toggle()
                }
                Button("结束") {
                    let phone = model.phone
                    try? phone.addFixes(patrolId: patrolId, fixes: buffer)
                    try? phone.endPatrol(patrolId: patrolId)
                    live = try? phone.patrolLive(patrolId: patrolId)
                    location.stop()
                }
            } else {
                Button("开始巡河") { start() }
            }
        }
        .onAppear { restore() }
    }

    /// After the app was killed: the open patrol comes back paused or recording, as stored.
    func restore() {
        let phone = model.phone
        guard patrolId == nil,
              let open = (try? phone.inbox(filter: .patrols))?.first,
              let stored = try? phone.patrolLive(patrolId: open.id) else { return }
        live = stored
        paused = stored.paused
        record(open.id)
    }

    func start() {
        let phone = model.phone
        guard let id = try? phone.startPatrol(kind: .river, segment: "xixi-01", assignedCells: []) else { return }
        record(id)
    }

    func record(_ id: String) {
        let phone = model.phone
        patrolId = id
        location.onFix = { f, t in
            guard let id = patrolId, !paused else { return }
            buffer.append(Fix(t: t, lat: f.lat, lon: f.lon, accuracyM: f.accuracyM, mock: f.mock))
            if buffer.count >= 20 {
                try? phone.addFixes(patrolId: id, fixes: buffer)
                buffer.removeAll()
                live = try? phone.patrolLive(patrolId: id)
            }
        }
        location.start()
    }
}

struct NoticeView_: View {
    @EnvironmentObject var model: AppModel
    let noticeId: String
    @State private var notice: NoticeView?

    var body: some View {
        List(notice?.items ?? [], id: \.item.id) { item in
            VStack(alignment: .leading) {
                Text(item.item.finding)
                HStack {
                    Button("确认") {
                        let phone = model.phone
                        try? phone.confirmNoticeItem(noticeId: noticeId, item: item.item.id)
                        notice = try? phone.noticeView(noticeId: noticeId)
                    }
                    Button("驳回") {
                        let phone = model.phone
                        try? phone.rejectNoticeItem(noticeId: noticeId, item: item.item.id, reason: "整改不到位")
                        notice = try? phone.noticeView(noticeId: noticeId)
                    }
                }
            }
        }
        .onAppear {
            let phone = model.phone
            notice = try? phone.noticeView(noticeId: noticeId)
        }
    }
}
