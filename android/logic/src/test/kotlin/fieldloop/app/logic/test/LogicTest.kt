// The app's logic (the state holders the Compose and SwiftUI screens draw) on the JVM,
// against the real generated bindings and a real server on loopback.
package fieldloop.app.logic.test

import fieldloop.app.logic.CaptureModel
import fieldloop.app.logic.Colour
import fieldloop.app.logic.InboxModel
import fieldloop.app.logic.LocationReading
import fieldloop.app.logic.PatrolRecorder
import fieldloop.app.logic.SessionModel
import fieldloop.app.logic.SessionState
import fieldloop.app.logic.SyncModel
import fieldloop.app.logic.VerifyModel
import fieldloop.bindingtest.MINUTE
import fieldloop.bindingtest.Photos
import fieldloop.bindingtest.SharedClock
import fieldloop.bindingtest.TestServer
import fieldloop.bindingtest.expect
import fieldloop.bindingtest.shifted
import fieldloop.bindingtest.sync
import fieldloop.bindingtest.tempRoot
import fieldloop.bindingtest.until
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import uniffi.fieldloop_core.CaseStatus
import uniffi.fieldloop_core.PatrolStatus
import uniffi.fieldloop_core.Role
import uniffi.fieldloop_ffi.FieldPhone

fun main(args: Array<String>) {
    require(args.size == 2) { "usage: LogicTest <phone-test-server> <photos dir>" }
    val photos = Photos(args[1])
    val root = tempRoot()
    TestServer(args[0]).use { server ->
        val clock = SharedClock(server.startedAt)
        fun open(name: String) = FieldPhone.openWithClock(root.resolve(name).toString(), server.url, clock)
        fun at(minutes: Long) {
            clock.now.set(server.startedAt + minutes * MINUTE)
            server.at(clock.now.get())
        }
        val (lat, lon) = shifted(30.262, 120.095, 150.0, 150.0)
        fun reading(la: Double = lat, lo: Double = lon, mock: Boolean = false) =
            LocationReading(la, lo, 5.0, "fused", mock, clock.now.get())

        // Session: a wrong password is a message, the right one logs in.
        val inspectorPhone = open("inspector")
        val session = SessionModel(inspectorPhone, "logic test")
        session.login("inspector", "wrong")
        expect(session.state.value is SessionState.Failed) { "wrong password: ${session.state.value}" }
        session.login("inspector", "inspect-demo-pass")
        val me = (session.state.value as? SessionState.LoggedIn)?.me
        expect(me?.role == Role.INSPECTOR) { "logged in: ${session.state.value}" }

        // Capture: category search, offline grid cell, mock warning, photo, durable save.
        at(10)
        val syncModel = SyncModel(inspectorPhone)
        runBlocking { syncModel.syncNow() }
        val capture = CaptureModel(inspectorPhone)
        capture.search("暴露垃圾")
        capture.pick(capture.state.value.categories.first { it.key == "20102" })
        capture.located(reading(mock = true))
        expect(capture.state.value.locationWarning?.contains("模拟定位") == true) { "mock warning" }
        capture.located(reading())
        expect(capture.state.value.gridCell == "330106001001001") { "grid cell ${capture.state.value.gridCell}" }
        expect(!capture.state.value.canSave) { "no photo yet" }
        capture.photoTaken(photos.path("jolla-phone-8mp.jpg"))
        capture.describe("路边垃圾")
        val caseId = runBlocking { capture.save() } ?: throw AssertionError("save: ${capture.state.value.error}")
        // A second report of the same kind at the same place: the phone warns before saving.
        val again = CaptureModel(inspectorPhone)
        again.search("暴露垃圾")
        again.pick(again.state.value.categories.first { it.key == "20102" })
        again.located(reading())
        val nearest = again.state.value.duplicates.firstOrNull()
        expect(nearest?.caseId == caseId && nearest.distanceM < 1.0) { "duplicate found: ${again.state.value.duplicates}" }
        expect(again.state.value.duplicateWarning?.contains("可能重复上报") == true) { "warning ${again.state.value.duplicateWarning}" }
        again.photoTaken(photos.path("jolla-phone-8mp.jpg"))
        expect(runBlocking { again.save() } == null && again.state.value.error == again.state.value.duplicateWarning) {
            "saving waits for the person: ${again.state.value}"
        }
        // Another category at the same place is no duplicate.
        again.pick(again.state.value.categories.firstOrNull { it.key != "20102" } ?: inspectorPhone.searchCategories("").first { it.key != "20102" })
        expect(again.state.value.duplicates.isEmpty()) { "other category: ${again.state.value.duplicates}" }
        syncModel.refreshCounts()
        expect(syncModel.state.value.pendingPhotos == 1u) { "photo queued: ${syncModel.state.value}" }
        at(15)
        runBlocking { syncModel.syncNow() }
        expect(syncModel.state.value.line.startsWith("已同步") && syncModel.state.value.pendingPhotos == 0u) {
            "sync status: ${syncModel.state.value}"
        }

        // Inbox on the handler's phone after the server dispatched it.
        val dispatcher = open("dispatch-xihu").also { it.login("dispatch-xihu", "xihu-demo-2026"); it.registerDevice("logic test") }
        dispatcher.sync()
        dispatcher.registerCase(caseId, null)
        until("dispatch", dispatcher) { dispatcher.caseView(caseId).state.unit != null }
        val handler = open("handler").also { it.login("handler", "handler-demo-pass"); it.registerDevice("logic test") }
        at(30)
        handler.sync()
        val inbox = InboxModel(handler)
        inbox.refresh()
        val row = inbox.state.value.rows.first { it.id == caseId }
        expect(row.colour == Colour.GREEN && row.countdown.startsWith("剩余") && row.bandLabel == "正常") { "row $row" }

        // Verification pre-check warnings in words, 600 m away.
        handler.acceptCase(caseId)
        runBlocking {
            handler.handInRepair(caseId, null, listOf(uniffi.fieldloop_ffi.PhotoInput(
                photos.path("olympus-ep3-12mp.jpg"), reading().toFix())))
        }
        handler.sync()
        at(60)
        inspectorPhone.sync()
        expect(inspectorPhone.caseView(caseId).state.status == CaseStatus.HANDLED) { "handled" }
        val verify = VerifyModel(inspectorPhone, caseId)
        val (farLat, farLon) = shifted(lat, lon, 600.0, 0.0)
        runBlocking { verify.precheck(photos.path("coolpix-gps-a.jpg"), reading(farLat, farLon)) }
        expect(verify.state.value.warnings.any { it.startsWith("位置:") }) { "warnings ${verify.state.value}" }

        // Patrol recorder: batches, pause drops readings, live figures.
        val chief = open("chief").also { it.login("chief", "chief-demo-pass"); it.registerDevice("logic test") }
        chief.sync()
        val line = chief.riverSegmentLine("xixi-01")
        val recorder = PatrolRecorder(chief, batchSize = 10)
        at(70)
        recorder.startRiver("xixi-01")
        for (i in 0 until 25) {
            val p = line[i % line.size]
            clock.now.addAndGet(20_000)
            recorder.onLocation(reading(p.lat, p.lon))
            if (i == 11) recorder.pause()
            if (i == 15) recorder.resume()
        }
        expect(recorder.state.value.buffered in 1..9) { "a partial batch waits: ${recorder.state.value.buffered}" }
        recorder.end()
        val live = recorder.state.value.live ?: throw AssertionError("no live figures")
        expect(live.status == PatrolStatus.ENDED && live.fixes == 21u) { "21 fixes (4 dropped while paused): ${live.fixes}" }
        expect(recorder.state.value.distanceText.endsWith("公里")) { recorder.state.value.distanceText }

        session.logout()
        expect(session.state.value == SessionState.LoggedOut && inspectorPhone.whoAmI() == null) { "logged out" }
        for (p in listOf(inspectorPhone, dispatcher, handler, chief)) p.close()
    }
    root.toFile().deleteRecursively()
    println("ok   app logic: session, capture, sync status, inbox, pre-check, patrol recorder")
}
