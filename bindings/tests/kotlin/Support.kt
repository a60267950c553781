// Test support for the bindings tests on the JVM: the real server process, a clock the
// phones and the server share, photos from ../shared/photos, and small assertions.
package fieldloop.bindingtest

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.io.PrintWriter
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.runBlocking
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.PhoneClock
import uniffi.fieldloop_ffi.PositionFix
import uniffi.fieldloop_ffi.SyncResult

const val MINUTE = 60_000L

/** `phone-test-server`: the demo city on a temp dir, listening on 127.0.0.1. */
class TestServer(executable: String) : AutoCloseable {
    private val process: Process = ProcessBuilder(executable)
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start()
    private val output = BufferedReader(InputStreamReader(process.inputStream))
    private val input = PrintWriter(process.outputStream, true)
    val url: String = output.readLine() ?: error("phone-test-server did not start")
    val startedAt: Long = (output.readLine() ?: error("no clock line")).removePrefix("clock ").trim().toLong()

    /** Sets the server's clock. */
    fun at(millis: Long) {
        input.println("at $millis")
        val reply = output.readLine()
        check(reply == "ok") { "server clock: $reply" }
    }

    override fun close() {
        input.close()
        if (!process.waitFor(15, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

/** The simulated day's clock: every phone stamps its events with it. */
class SharedClock(start: Long) : PhoneClock {
    val now = AtomicLong(start)
    override fun nowMs(): Long = now.get()
}

/** The day: the server, the clock they share, a directory per phone. */
class Day(val server: TestServer, val root: Path) : AutoCloseable {
    val clock = SharedClock(server.startedAt)
    private val phones = mutableListOf<FieldPhone>()

    fun at(hour: Int, minute: Int) {
        val start = server.startedAt - (8 * 60 + 30) * MINUTE
        set(start + (hour * 60 + minute) * MINUTE)
    }

    fun set(millis: Long) {
        clock.now.set(millis)
        server.at(millis)
    }

    fun advance(millis: Long) = set(clock.now.get() + millis)

    /** A phone with its own store directory, logged in and registered. */
    fun phone(username: String, password: String): FieldPhone {
        val phone = FieldPhone.openWithClock(root.resolve(username).toString(), server.url, clock)
        val session = phone.login(username, password)
        expect(session.me.username == username) { "logged in as ${session.me.username}" }
        phone.registerDevice("test phone of $username")
        phones += phone
        return phone
    }

    /** Closes `phone` and opens its store again, as the app does after being killed. */
    fun reopen(phone: FieldPhone, username: String): FieldPhone {
        phones.remove(phone)
        phone.close()
        val again = FieldPhone.openWithClock(root.resolve(username).toString(), server.url, clock)
        phones += again
        return again
    }

    override fun close() {
        phones.forEach { it.close() }
    }
}

fun FieldPhone.sync(): SyncResult = runBlocking { syncNow() }

/** Syncs `phone` until `done` holds (the referee answers asynchronously), at most 30 s. */
fun until(what: String, phone: FieldPhone, done: () -> Boolean) {
    val deadline = System.nanoTime() + 30_000_000_000L
    while (true) {
        phone.sync()
        if (done()) return
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting for: $what")
        Thread.sleep(250)
    }
}

fun expect(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

inline fun <reified E : Throwable> expectThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("$what: expected ${E::class.simpleName}, nothing thrown")
}

/**
 * Real camera photos: FIELDLOOP_PHOTOS or ../shared/photos beside the checkout, handed over
 * as a camera would at capture time. The stock files were taken years ago in other countries,
 * and the verdict compares a photo's own EXIF time and GPS with what the phone claims (tested
 * with their real EXIF in core and the end-to-end tests), so the phones here get a copy
 * without the EXIF block: the pixels are the camera's, the claim is the day's.
 */
class Photos(dir: String) {
    val dir = File(dir)
    private val captured: File = Files.createTempDirectory("fieldloop-captures").toFile()
    init {
        expect(this.dir.isDirectory) { "no photos in ${this.dir}" }
        captured.deleteOnExit()
    }
    fun path(name: String): String {
        val file = File(dir, name)
        expect(file.isFile) { "missing photo $file" }
        val copy = File(captured, name)
        if (!copy.isFile) {
            copy.writeBytes(withoutExif(file.readBytes()))
            copy.deleteOnExit()
        }
        return copy.path
    }
}

/** A JPEG without its APP1 "Exif" segments (every other segment and the scan kept as is). */
fun withoutExif(jpeg: ByteArray): ByteArray {
    val out = java.io.ByteArrayOutputStream(jpeg.size)
    out.write(jpeg, 0, 2)
    var at = 2
    while (at + 4 <= jpeg.size && jpeg[at] == 0xFF.toByte()) {
        val marker = jpeg[at + 1].toInt() and 0xFF
        if (marker == 0xDA) break
        val length = ((jpeg[at + 2].toInt() and 0xFF) shl 8) or (jpeg[at + 3].toInt() and 0xFF)
        val isExif = marker == 0xE1 && at + 10 <= jpeg.size &&
            String(jpeg, at + 4, 4, Charsets.ISO_8859_1) == "Exif"
        if (!isExif) out.write(jpeg, at, 2 + length)
        at += 2 + length
    }
    out.write(jpeg, at, jpeg.size - at)
    return out.toByteArray()
}

/** Metres east/north of a point, for positions near a case (local flat approximation). */
fun shifted(lat: Double, lon: Double, eastM: Double, northM: Double): Pair<Double, Double> {
    val dLat = northM / 111_320.0
    val dLon = eastM / (111_320.0 * Math.cos(Math.toRadians(lat)))
    return Pair(lat + dLat, lon + dLon)
}

fun fix(lat: Double, lon: Double, accuracy: Double = 6.0, mock: Boolean = false) =
    PositionFix(lat, lon, accuracy, "fused", mock)

fun tempRoot(): Path = Files.createTempDirectory("fieldloop-bindings-")
