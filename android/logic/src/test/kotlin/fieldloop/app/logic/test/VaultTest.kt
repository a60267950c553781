// The device's signing key sealed by the vault the app gives (AesGcmKeyVault over a
// javax.crypto key here; an Android Keystore key in the app), on the JVM against the real
// generated bindings and a real server on loopback.
package fieldloop.app.logic.test

import fieldloop.app.logic.AesGcmKeyVault
import fieldloop.app.logic.CaptureModel
import fieldloop.app.logic.LocationReading
import fieldloop.app.logic.SyncModel
import fieldloop.app.logic.Words
import fieldloop.bindingtest.MINUTE
import fieldloop.bindingtest.Photos
import fieldloop.bindingtest.SharedClock
import fieldloop.bindingtest.TestServer
import fieldloop.bindingtest.expect
import fieldloop.bindingtest.expectThrows
import fieldloop.bindingtest.shifted
import fieldloop.bindingtest.tempRoot
import java.io.File
import java.nio.file.Path
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import kotlinx.coroutines.runBlocking
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.KeyVault

/** The vault the app uses, remembering each secret it sealed so the test can look for it. */
class RecordingVault(private val inner: KeyVault) : KeyVault {
    val sealed = mutableListOf<ByteArray>()
    override fun seal(secret: ByteArray): ByteArray = inner.seal(secret).also { sealed += secret.copyOf() }
    override fun unseal(sealed: ByteArray): ByteArray = inner.unseal(sealed)
}

fun aesKey(): SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

/** Files of the store in `dir` (database, WAL, shared memory) that contain `needle`. */
fun filesContaining(dir: Path, needle: ByteArray): List<String> =
    dir.toFile().listFiles { f: File -> f.isFile && f.name.startsWith("device.db") }.orEmpty()
        .filter { f -> f.readBytes().let { b -> (0..b.size - needle.size).any { i -> needle.indices.all { b[i + it] == needle[it] } } } }
        .map { it.name }

fun main(args: Array<String>) {
    require(args.size == 2) { "usage: VaultTest <phone-test-server> <photos dir>" }
    val photos = Photos(args[1])
    val root = tempRoot()
    TestServer(args[0]).use { server ->
        val clock = SharedClock(server.startedAt)
        fun at(minutes: Long) {
            clock.now.set(server.startedAt + minutes * MINUTE)
            server.at(clock.now.get())
        }
        fun sealedPhone(dir: Path, vault: KeyVault) =
            FieldPhone.openWithVaultAndClock(dir.toString(), server.url, vault, clock)

        /** A case captured as the app does and synced: photo uploaded, nothing pending. */
        fun captureAndSync(phone: FieldPhone, eastM: Double): String {
            val (lat, lon) = shifted(30.262, 120.095, eastM, 150.0)
            val capture = CaptureModel(phone)
            capture.search("暴露垃圾")
            capture.pick(capture.state.value.categories.first { it.key == "20102" })
            capture.located(LocationReading(lat, lon, 5.0, "fused", false, clock.now.get()))
            // Reports near an earlier one of this test are meant: not a duplicate here.
            if (capture.state.value.duplicateWarning != null) capture.reportAnyway()
            capture.photoTaken(photos.path("jolla-phone-8mp.jpg"))
            capture.describe("密钥测试")
            val id = runBlocking { capture.save() } ?: throw AssertionError("save: ${capture.state.value.error}")
            val sync = SyncModel(phone)
            runBlocking { sync.syncNow() }
            sync.refreshCounts()
            expect(sync.state.value.line.startsWith("已同步") && sync.state.value.pendingPhotos == 0u &&
                phone.pendingChanges() == 0u) { "synced: ${sync.state.value}" }
            expect(phone.quarantined().isEmpty()) { "nothing refused: ${phone.quarantined()}" }
            return id
        }

        // A new install with a vault: the store holds only the sealed secret.
        at(10)
        val keyA = aesKey()
        val dir = root.resolve("sealed")
        val vault = RecordingVault(AesGcmKeyVault { keyA })
        val phone = sealedPhone(dir, vault)
        phone.login("inspector", "inspect-demo-pass")
        phone.registerDevice("vault test")
        runBlocking { SyncModel(phone).syncNow() }
        captureAndSync(phone, 150.0)
        val deviceId = phone.deviceId()
        val first = phone
        expect(vault.sealed.size == 1 && vault.sealed[0].size == 32) { "one 32-byte secret sealed: ${vault.sealed.map { it.size }}" }
        val secret = vault.sealed[0]
        expect(filesContaining(dir, secret).isEmpty()) { "plain secret on disk: ${filesContaining(dir, secret)}" }
        first.close()
        expect(filesContaining(dir, secret).isEmpty()) { "plain secret on disk after close: ${filesContaining(dir, secret)}" }

        // Reopened with the same key: the same device, still capturing and syncing.
        at(20)
        val again = sealedPhone(dir, AesGcmKeyVault { keyA })
        expect(again.deviceId() == deviceId) { "same device" }
        captureAndSync(again, 400.0)
        again.close()

        // Another AES key (another phone's key store, a reset one) or none: a typed error.
        val wrong = expectThrows<FieldException.DeviceKeyUnavailable>("another key") {
            sealedPhone(dir, AesGcmKeyVault { aesKey() }).close()
        }
        expect(Words.error(wrong).contains("密钥")) { Words.error(wrong) }
        expectThrows<FieldException.DeviceKeyUnavailable>("no vault") {
            FieldPhone.openWithClock(dir.toString(), server.url, clock).close()
        }
        // A vault that throws what it did not declare is the same typed error, not a crash.
        val broken = object : KeyVault {
            override fun seal(secret: ByteArray): ByteArray = throw IllegalStateException("keystore gone")
            override fun unseal(sealed: ByteArray): ByteArray = throw IllegalStateException("keystore gone")
        }
        expectThrows<FieldException.DeviceKeyUnavailable>("a throwing vault") { sealedPhone(dir, broken).close() }
        expectThrows<FieldException.DeviceKeyUnavailable>("a throwing vault, new store") {
            sealedPhone(root.resolve("broken"), broken).close()
        }
        // Nothing was changed by the failures: the right key still opens it.
        sealedPhone(dir, AesGcmKeyVault { keyA }).use { expect(it.deviceId() == deviceId) { "kept" } }

        // An install from before the vault: its plain key is sealed in place, same device.
        at(30)
        val oldDir = root.resolve("plain")
        val old = FieldPhone.openWithClock(oldDir.toString(), server.url, clock)
        old.login("inspector", "inspect-demo-pass")
        old.registerDevice("vault test, before the vault")
        captureAndSync(old, 200.0)
        val oldId = old.deviceId()
        old.close()
        val upgraded = RecordingVault(AesGcmKeyVault { keyA })
        val sealedNow = sealedPhone(oldDir, upgraded)
        expect(sealedNow.deviceId() == oldId) { "same device after sealing" }
        expect(upgraded.sealed.size == 1) { "the old key sealed" }
        expect(filesContaining(oldDir, upgraded.sealed[0]).isEmpty()) { "plain key erased: ${filesContaining(oldDir, upgraded.sealed[0])}" }
        at(40)
        captureAndSync(sealedNow, 300.0)
        sealedNow.close()
    }
    root.toFile().deleteRecursively()
    println("ok   device key sealed by the app's vault: new and upgraded stores, reopen, wrong key")
}
