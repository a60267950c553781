// The Kotlin side of the bindings benchmark (scripts/bindings-bench): the same capture as
// bindings/benches/capture.rs through the generated bindings, and the inbox of the 3,000
// open tasks the Rust side left in <store dir>.
package fieldloop.bindingtest

import kotlinx.coroutines.runBlocking
import uniffi.fieldloop_ffi.CaseDraft
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.InboxFilter
import uniffi.fieldloop_ffi.PositionFix

fun median(samples: List<Double>) = samples.sorted()[samples.size / 2]

fun main(args: Array<String>) {
    require(args.size == 3) { "usage: Bench <phone-test-server> <photos> <store dir>" }
    val (serverExe, photos, store) = args
    TestServer(serverExe).use { server ->
        val paths = listOf("jolla-phone-8mp.jpg", "olympus-ep3-12mp.jpg", "coolpix-gps-a.jpg").map { "$photos/$it" }
        val draft = CaseDraft("20102", PositionFix(30.2634, 120.0966, 6.0, "fused", false), "基准", null, false, null, paths)
        val dir = tempRoot()
        FieldPhone.open(dir.toString(), server.url).use { phone ->
            phone.login("inspector", "inspect-demo-pass")
            runBlocking { phone.captureCase(draft) } // JIT and class loading, not counted
            val samples = (1..5).map {
                val start = System.nanoTime()
                runBlocking { phone.captureCase(draft) }
                (System.nanoTime() - start) / 1e6
            }
            println("kotlin capture (case + 3 photos + durable save): median %.1f ms (n=5)".format(median(samples)))
        }
        dir.toFile().deleteRecursively()
        FieldPhone.open(store, server.url).use { phone ->
            phone.inbox(InboxFilter.ALL)
            val samples = (1..20).map {
                val start = System.nanoTime()
                val tasks = phone.inbox(InboxFilter.ALL)
                check(tasks.size == 3000) { "${tasks.size} tasks" }
                (System.nanoTime() - start) / 1e6
            }
            println("kotlin inbox of 3000 open tasks: median %.2f ms (n=20)".format(median(samples)))
        }
    }
}
