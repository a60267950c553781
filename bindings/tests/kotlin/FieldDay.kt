// The field day through the generated Kotlin bindings, against a real server on loopback:
// phones with their own store directories, real JPEGs, the server's referee deciding.
//
//   java -Djna.library.path=<dir of libfieldloop_ffi.so> -cp ... fieldloop.bindingtest.FieldDayKt \
//        <phone-test-server> <photos dir>
package fieldloop.bindingtest

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import uniffi.fieldloop_core.Answer
import uniffi.fieldloop_core.Band
import uniffi.fieldloop_core.CaseStatus
import uniffi.fieldloop_core.Fix
import uniffi.fieldloop_core.ItemStatus
import uniffi.fieldloop_core.NoticeStatus
import uniffi.fieldloop_core.PatrolKind
import uniffi.fieldloop_core.PatrolStatus
import uniffi.fieldloop_core.PhotoProblem
import uniffi.fieldloop_core.Role
import uniffi.fieldloop_ffi.CaseDraft
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.InboxFilter
import uniffi.fieldloop_ffi.PhotoInput
import uniffi.fieldloop_ffi.SyncListener
import uniffi.fieldloop_ffi.SyncPhase
import uniffi.fieldloop_ffi.SyncProgress

// Cell 330106001001001 is the south-west 400 m square of the demo district.
const val ORIGIN_LAT = 30.262
const val ORIGIN_LON = 120.095
const val CELL = "330106001001001"
// 暴露垃圾: the matrix sends it to sanitation-xihu, whose handler is `handler`.
const val CATEGORY = "20102"

fun site(eastM: Double, northM: Double) = shifted(ORIGIN_LAT, ORIGIN_LON, eastM, northM)

class FieldDayTest(private val day: Day, private val photos: Photos) {
    private val inspector = day.phone("inspector", "inspect-demo-pass")
    private val dispatcher = day.phone("dispatch-xihu", "xihu-demo-2026")
    private val handler = day.phone("handler", "handler-demo-pass")

    private fun capture(east: Double, north: Double, photo: String, what: String): String {
        val (lat, lon) = site(east, north)
        expect(inspector.gridCellAt(lat, lon) == CELL) { "offline grid cell of the site" }
        return runBlocking {
            inspector.captureCase(
                CaseDraft(CATEGORY, fix(lat, lon), what, "西湖区 测试地址", false, null,
                    listOf(photos.path(photo))),
            )
        }
    }

    private fun photoAt(name: String, east: Double, north: Double): PhotoInput {
        val (lat, lon) = site(east, north)
        return PhotoInput(photos.path(name), fix(lat, lon))
    }

    fun run() {
        day.at(8, 31)
        for (p in listOf(inspector, dispatcher, handler)) p.sync()
        expect(inspector.whoAmI()!!.role == Role.INSPECTOR) { "inspector's role" }
        expect(handler.whoAmI()!!.unit == "sanitation-xihu") { "handler's unit" }
        val found = inspector.searchCategories("暴露垃圾")
        expect(found.any { it.key == CATEGORY }) { "category search by name: $found" }
        expect(inspector.searchCategories("0102").any { it.key == CATEGORY }) { "search by code" }

        // 08:40 — two cases captured offline (nothing synced until 08:45).
        day.at(8, 40)
        val good = capture(150.0, 150.0, "jolla-phone-8mp.jpg", "垃圾堆放在路边")
        day.at(8, 42)
        val far = capture(260.0, 240.0, "canon-rot90-hdr-off.jpg", "垃圾桶满溢")
        expect(inspector.pendingPhotos() == 2u) { "two photos wait for upload" }
        // 疑似重复 offline: 10 m east of the first case the phone already holds it; the
        // second, 140 m away, is not.
        val (nearLat, nearLon) = site(160.0, 150.0)
        val near = inspector.nearbyDuplicates(CATEGORY, nearLat, nearLon)
        expect(near.map { it.caseId } == listOf(good) && near[0].distanceM in 5.0..15.0) { "offline duplicate check: $near" }
        expect(inspector.nearbyDuplicates("20103", nearLat, nearLon).isEmpty()) { "another category is no duplicate" }
        day.at(8, 45)
        val first = inspector.sync()
        expect(first.photosUploaded == 2u && first.docsPushed >= 2u) { "inspector's sync: $first" }

        // 08:50 — the dispatcher registers; the server dispatches by the matrix.
        day.at(8, 50)
        dispatcher.sync()
        for (id in listOf(good, far)) dispatcher.registerCase(id, "立案")
        until("the server dispatches both cases", dispatcher) {
            listOf(good, far).all { dispatcher.caseView(it).state.unit == "sanitation-xihu" }
        }

        // 09:00 — the handler's phone has both, with a working-time countdown.
        day.at(9, 0)
        handler.sync()
        val tasks = handler.inbox(InboxFilter.CASES)
        val row = tasks.firstOrNull { it.id == good } ?: throw AssertionError("no task for the case: $tasks")
        expect(row.band == Band.GREEN) { "fresh task is green: $row" }
        expect((row.remainingWorkingMinutes ?: -1L) > 0L) { "countdown in working minutes: $row" }
        expect(tasks.zipWithNext().all { (a, b) -> (a.deadline ?: Long.MAX_VALUE) <= (b.deadline ?: Long.MAX_VALUE) }) {
            "inbox sorted by deadline"
        }
        val countdown = handler.caseView(good).countdown ?: throw AssertionError("no countdown")
        expect(countdown.band == Band.GREEN && countdown.remainingMinutes > 0L) { "case countdown $countdown" }
        handler.acceptCase(good)
        handler.acceptCase(far)
        day.at(9, 20)
        runBlocking {
            handler.handInRepair(good, "已清运", listOf(photoAt("olympus-ep3-12mp.jpg", 152.0, 148.0)))
            handler.handInRepair(far, "已清理", listOf(photoAt("orientation-3.jpg", 262.0, 238.0)))
        }
        handler.sync()

        // 09:40 — the inspector verifies on site: the pre-check passes, the server closes it.
        day.at(9, 40)
        inspector.sync()
        expect(inspector.caseView(good).state.status == CaseStatus.HANDLED) { "handled on the inspector's phone" }
        val onSite = photoAt("coolpix-gps-a.jpg", 154.0, 147.0)
        val pre = runBlocking { inspector.precheckVerification(good, true, listOf(onSite)) }
        expect(pre.wouldPass) { "pre-check on site: ${pre.warnings}" }
        expect(inspector.caseView(good).state.status == CaseStatus.HANDLED) { "the pre-check saves nothing" }
        runBlocking { inspector.submitVerification(good, true, "现场核查已整改", listOf(onSite)) }
        until("the server closes the case", inspector) {
            inspector.caseView(good).state.status == CaseStatus.CLOSED
        }
        for (p in listOf(handler, dispatcher)) {
            p.sync()
            expect(p.caseView(good).state.status == CaseStatus.CLOSED) { "closed on every phone" }
        }
        expect(handler.inbox(InboxFilter.ALL).none { it.id == good }) { "a closed case leaves the inbox" }
        println("ok   field day: captured offline, dispatched by the server, repaired, verified, closed on 3 phones")

        // 09:50 — the reporter and the dispatcher both reword the second case offline: both
        // wordings are kept (冲突) until the dispatcher picks one.
        day.at(9, 50)
        inspector.editCaseField(far, "description", "垃圾桶满溢, 周边有散落垃圾")
        dispatcher.editCaseField(far, "description", "果壳箱满溢")
        inspector.sync()
        dispatcher.sync()
        inspector.sync()
        for (p in listOf(inspector, dispatcher)) {
            val conflicts = p.caseView(far).state.fieldConflicts
            expect(conflicts.size == 1 && conflicts[0].field == "description" && conflicts[0].values.size == 2) {
                "both wordings kept on ${p.whoAmI()?.username}: $conflicts"
            }
        }
        expectThrows<FieldException>("the handler may not pick") {
            handler.sync()
            handler.resolveCaseField(far, "description", "果壳箱满溢")
        }
        dispatcher.resolveCaseField(far, "description", "垃圾桶满溢, 周边有散落垃圾")
        dispatcher.sync()
        inspector.sync()
        for (p in listOf(inspector, dispatcher)) {
            val view = p.caseView(far)
            expect(view.state.fieldConflicts.isEmpty() && view.description == "垃圾桶满溢, 周边有散落垃圾") {
                "settled on ${p.whoAmI()?.username}: ${view.state.fieldConflicts} ${view.description}"
            }
        }
        println("ok   concurrent edits: both wordings kept as a conflict, settled by the dispatcher on both phones")

        // 10:00 — the failing one: the verification photo is 600 m away.
        day.at(10, 0)
        val away = photoAt("coolpix-gps-b.jpg", 860.0, 240.0)
        val warned = runBlocking { inspector.precheckVerification(far, true, listOf(away)) }
        val place = warned.warnings.firstOrNull { it.name == "place" }
        expect(!warned.wouldPass && place != null && place.reason.contains(" m from the case")) {
            "pre-check warns about the place: ${warned.warnings}"
        }
        runBlocking { inspector.submitVerification(far, true, null, listOf(away)) }
        until("the server's rework verdict", inspector) {
            inspector.caseView(far).state.status == CaseStatus.REWORK
        }
        for (p in listOf(inspector, handler)) {
            p.sync()
            val view = p.caseView(far)
            expect(view.state.status == CaseStatus.REWORK) { "rework on ${p.whoAmI()?.username}" }
            val failed = view.failedChecks.firstOrNull { it.name == "place" }
            expect(failed != null && failed.reason.contains("m from the case")) { "reason shown: ${view.failedChecks}" }
            val verdict = p.latestVerdict(far) ?: throw AssertionError("no verdict view")
            expect(!verdict.passed && verdict.reasons.any { it.startsWith("place:") }) { "verdict $verdict" }
        }
        println("ok   600 m verification: pre-check warned, server sent it back for rework on both phones")
    }
}

fun noticeDay(day: Day, photos: Photos) {
    val supervisor = day.phone("supervisor", "supervise-demo-pass")
    val contractor = day.phone("contractor", "contract-demo-pass")
    day.at(11, 0)
    supervisor.sync()
    contractor.sync()
    val info = supervisor.referenceInfo()
    val project = info.projects.firstOrNull { it.id == "canal-2026" }
    expect(project != null && project.stages.any { it.key == "excavation" }) { "project from reference: $info" }
    val inspection = supervisor.startSiteInspection("canal-2026", "excavation")
    val checklist = supervisor.inspectionView(inspection).checklist.items
    expect(checklist.size >= 3) { "checklist from the clause library: ${checklist.size} items" }
    val failing = checklist.take(2).map { it.clauseId }
    val finding = PhotoInput(photos.path("orientation-6.jpg"), fix(30.27, 120.10))
    runBlocking {
        for (item in checklist) {
            val fail = item.clauseId in failing
            supervisor.answerInspectionItem(inspection, item.clauseId, if (fail) Answer.FAIL else Answer.PASS,
                null, if (fail) finding else null)
        }
    }
    expect(supervisor.inspectionView(inspection).unanswered == 0u) { "every item marked" }
    supervisor.submitSiteInspection(inspection)
    val contractorId = contractor.whoAmI()!!.userId
    val notice = supervisor.issueNotice(inspection, contractorId, 3u)
    expect(supervisor.noticeView(notice).items.map { it.item.id } == failing) { "notice from the failed items" }
    supervisor.sync()

    day.at(11, 10)
    contractor.sync()
    contractor.signNotice(notice)
    val reply = PhotoInput(photos.path("canon-rot90-hdr-on.jpg"), fix(30.27, 120.10))
    runBlocking { for (item in failing) contractor.replyNoticeItem(notice, item, "已整改", listOf(reply)) }
    contractor.sync()

    day.at(11, 40)
    supervisor.sync()
    expect(supervisor.noticeView(notice).items.all { it.status == ItemStatus.REPLIED }) { "replies arrived" }
    supervisor.confirmNoticeItem(notice, failing[0])
    supervisor.rejectNoticeItem(notice, failing[1], "整改不到位")
    supervisor.sync()

    day.at(13, 30)
    contractor.sync()
    val rejected = contractor.noticeView(notice).items.first { it.item.id == failing[1] }
    expect(rejected.status == ItemStatus.REJECTED && rejected.lastRejection == "整改不到位") { "rejection shown: $rejected" }
    runBlocking { contractor.replyNoticeItem(notice, failing[1], "已重新整改", listOf(reply)) }
    contractor.sync()

    day.at(14, 0)
    supervisor.sync()
    supervisor.confirmNoticeItem(notice, failing[1])
    until("the server closes the notice", supervisor) { supervisor.noticeView(notice).status == NoticeStatus.CLOSED }
    contractor.sync()
    expect(contractor.noticeView(notice).status == NoticeStatus.CLOSED) { "closed on the contractor's phone" }
    println("ok   notice: supervisor and contractor item by item, closed by the server")
}

fun riverPatrol(day: Day) {
    var chief = day.phone("chief", "chief-demo-pass")
    day.at(10, 5)
    chief.sync()
    val before = chief.planProgress()
    val window = before.flatMap { it.windows }.firstOrNull { it.segment == "xixi-01" }
        ?: throw AssertionError("no plan window for xixi-01: $before")
    expect(window.done == 0u && window.left >= 1u) { "plan before the patrol: $window" }

    val line = chief.riverSegmentLine("xixi-01")
    val patrol = chief.startPatrol(PatrolKind.RIVER, "xixi-01", emptyList())
    // Points every ~14 m along the river, 45 minutes, fed in batches as the service would.
    val points = mutableListOf<Pair<Double, Double>>()
    for ((a, b) in line.zipWithNext()) {
        val metres = Math.hypot((b.lat - a.lat) * 111_320.0, (b.lon - a.lon) * 96_000.0)
        val n = maxOf(1, (metres / 14.0).toInt())
        for (i in 0 until n) points += Pair(a.lat + (b.lat - a.lat) * i / n, a.lon + (b.lon - a.lon) * i / n)
    }
    points += Pair(line.last().lat, line.last().lon)
    val start = day.clock.now.get()
    val span = 45 * MINUTE
    val fixes = points.mapIndexed { i, (lat, lon) ->
        Fix(start + MINUTE + span * i / (points.size - 1), lat, lon, 6.0, false)
    }
    val half = fixes.size / 2
    for (batch in fixes.take(half).chunked(40)) {
        day.set(batch.last().t)
        chief.addFixes(patrol, batch)
    }
    chief.pausePatrol(patrol)
    // The app is killed while paused: the phone object started again still has it paused.
    chief = day.reopen(chief, "chief")
    expect(chief.patrolLive(patrol).paused) { "still paused after a restart" }
    expectThrows<FieldException.InvalidInput>("fixes while paused") { chief.addFixes(patrol, fixes.drop(half).take(1)) }
    chief.resumePatrol(patrol)
    for (batch in fixes.drop(half).chunked(40)) {
        day.set(batch.last().t)
        chief.addFixes(patrol, batch)
    }
    val live = chief.patrolLive(patrol)
    expect(live.status == PatrolStatus.IN_PROGRESS && live.fixes.toInt() == fixes.size) { "live: $live" }
    expect(live.lengthM > 1_000.0 && live.durationMs >= 40 * MINUTE) { "live distance and duration: $live" }
    expect((live.river?.coverage?.share ?: 0.0) > 0.6) { "segment coverage: ${live.river?.coverage}" }
    day.advance(30_000)
    chief.endPatrol(patrol)
    until("the server judges the patrol", chief) { chief.patrolLive(patrol).verdict != null }
    val verdict = chief.patrolLive(patrol).verdict!!
    expect(verdict.valid) { "patrol valid: ${verdict.reasons}" }
    until("the plan task is done", chief) {
        chief.planProgress().flatMap { it.windows }.any { it.segment == "xixi-01" && it.done >= 1u }
    }
    println("ok   river patrol: valid by the server, plan task done")
}

/** What a person would see of a store: inbox rows, unsynced work, quarantine. */
fun storeState(phone: FieldPhone) = listOf(
    phone.inbox(InboxFilter.ALL).map { it.id to it.status },
    phone.pendingChanges(),
    phone.pendingPhotos(),
    phone.quarantined().size,
)

fun badInput(day: Day, photos: Photos) {
    val phone = day.phone("insp-li", "xihu-demo-2026")
    day.at(15, 0)
    phone.sync()
    val (lat, lon) = shifted(ORIGIN_LAT, ORIGIN_LON, 950.0, 150.0) // street 002
    fun draft(category: String = CATEGORY, la: Double = lat, lo: Double = lon, photo: String = photos.path("jolla-phone-8mp.jpg")) =
        CaseDraft(category, fix(la, lo), "坏输入", null, false, null, listOf(photo))
    val before = storeState(phone)
    val unknown = expectThrows<FieldException.InvalidInput>("unknown category") {
        runBlocking { phone.captureCase(draft(category = "29999")) }
    }
    expect(unknown.field == "category") { "names the field: ${unknown.field}" }
    expectThrows<FieldException.InvalidInput>("NaN latitude") { runBlocking { phone.captureCase(draft(la = Double.NaN)) } }
    expectThrows<FieldException.InvalidInput>("latitude 91") { runBlocking { phone.captureCase(draft(la = 91.0)) } }
    expectThrows<FieldException.InvalidInput>("outside every cell") { runBlocking { phone.captureCase(draft(la = 31.5)) } }
    val corrupt = expectThrows<FieldException.PhotoUnreadable>("corrupted JPEG") {
        runBlocking { phone.captureCase(draft(photo = photos.path("corrupted-olympus.jpg"))) }
    }
    expect(corrupt.problem == PhotoProblem.UNDECODABLE) { "corrupted: ${corrupt.problem}" }
    val heic = expectThrows<FieldException.PhotoUnreadable>("HEIC") {
        runBlocking { phone.captureCase(draft(photo = photos.path("iphone13-pro-max.heic"))) }
    }
    expect(heic.problem == PhotoProblem.UNSUPPORTED_FORMAT) { "heic: ${heic.problem}" }
    expectThrows<FieldException.PhotoUnreadable>("missing file") {
        runBlocking { phone.captureCase(draft(photo = "/nonexistent/photo.jpg")) }
    }
    expectThrows<FieldException.InvalidInput>("not an id") { phone.acceptCase("not-an-id") }
    expect(storeState(phone) == before) { "nothing stored half: ${storeState(phone)} vs $before" }

    val stranger = FieldPhone.openWithClock(day.root.resolve("stranger").toString(), day.server.url, day.clock)
    expectThrows<FieldException.Unauthorized>("wrong password") { stranger.login("insp-li", "wrong-password") }
    expect(stranger.whoAmI() == null) { "nobody logged in after a refused login" }
    stranger.close()

    // The server goes away: the same store opened against a dead port.
    val id = runBlocking { phone.captureCase(draft()) }
    val queued = storeState(phone)
    phone.close()
    val offline = FieldPhone.openWithClock(day.root.resolve("insp-li").toString(), "http://127.0.0.1:9", day.clock)
    expectThrows<FieldException.Offline>("server down") { offline.sync() }
    expect(storeState(offline) == queued) { "the queued capture is intact" }
    expect(offline.caseView(id).state.status == CaseStatus.REPORTED) { "case still readable offline" }
    offline.close()
    println("ok   bad input: typed exceptions, the store unchanged")
}

fun progressAndCancel(day: Day, photos: Photos) {
    val phone = day.phone("insp-zhao", "xihu-demo-2026")
    day.at(15, 30)
    phone.sync()
    val (lat, lon) = shifted(ORIGIN_LAT, ORIGIN_LON, 1750.0, 150.0) // street 003
    runBlocking {
        phone.captureCase(CaseDraft(CATEGORY, fix(lat, lon), "三张照片", null, false, null,
            listOf("olympus-ep3-12mp.jpg", "coolpix-gps-a.jpg", "orientation-3.jpg").map { photos.path(it) }))
    }
    expect(phone.pendingPhotos() == 3u) { "three photos queued" }

    // The listener holds the first report until the handle is cancelled.
    val firstReport = CountDownLatch(1)
    val release = CountDownLatch(1)
    val reports = AtomicInteger()
    val handle = phone.startSync(object : SyncListener {
        override fun onProgress(progress: SyncProgress) {
            reports.incrementAndGet()
            firstReport.countDown()
            release.await(10, TimeUnit.SECONDS)
        }
    })
    expect(firstReport.await(10, TimeUnit.SECONDS)) { "the listener heard from the sync" }
    handle.cancel()
    release.countDown()
    expectThrows<FieldException.Cancelled>("cancelled sync") { runBlocking { handle.result() } }
    expect(phone.pendingPhotos() == 3u && phone.pendingChanges() >= 1u) { "nothing sent after the cancel" }

    val seen = mutableListOf<SyncProgress>()
    val again = phone.startSync(object : SyncListener {
        override fun onProgress(progress: SyncProgress) {
            synchronized(seen) { seen += progress }
        }
    })
    val result = runBlocking { again.result() }
    expect(result.photosUploaded == 3u && result.complete) { "second sync: $result" }
    expect(phone.pendingPhotos() == 0u && phone.pendingChanges() == 0u) { "everything sent" }
    synchronized(seen) {
        expect(seen.any { it.phase == SyncPhase.PHOTOS && it.photosTotal == 3u }) { "photo progress: $seen" }
        expect(seen.last().phase == SyncPhase.DONE) { "ends with done: ${seen.last()}" }
    }
    println("ok   sync progress reaches the listener; cancel through the handle stops it")
}

fun main(args: Array<String>) {
    require(args.size == 2) { "usage: FieldDay <phone-test-server> <photos dir>" }
    val photos = Photos(args[1])
    val root = tempRoot()
    var failed = false
    TestServer(args[0]).use { server ->
        Day(server, root).use { day ->
            val sections = listOf<Pair<String, () -> Unit>>(
                "field day" to { FieldDayTest(day, photos).run() },
                "river patrol" to { riverPatrol(day) },
                "notice" to { noticeDay(day, photos) },
                "bad input" to { badInput(day, photos) },
                "progress and cancel" to { progressAndCancel(day, photos) },
                "city category" to { cityCategory(day) },
            )
            for ((name, section) in sections) {
                try {
                    section()
                } catch (e: Throwable) {
                    failed = true
                    println("FAIL $name: $e")
                    e.printStackTrace()
                }
            }
        }
    }
    root.toFile().deleteRecursively()
    if (failed) exitProcess(1)
    println("kotlin bindings: all passed")
}
