// The city's own reference data reaches the phone through sync: the admin imports a
// category no national list has (共享单车乱停放, 29901, its own time limit), and the
// inspector's phone finds it in the offline picker after its next sync.
package fieldloop.bindingtest

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

const val CITY_CATEGORY = "29901"

/** The bundled catalogue (core/data) with the city's own category added. */
fun cityCatalogue(): String {
    val bundled = File("core/data/categories.json").readText()
    val entry = """{"kind": "event", "code": "9901", "major": "城市特色", "name": "共享单车乱停放",
        "gb47678": "99001", "limits": {
          "normal": {"steps": [{"step": "处置", "amount": 5, "unit": "working_hours"}]},
          "urgent": {"steps": [{"step": "处置", "amount": 1, "unit": "working_hours"}]}},
        "radius_m": 30.0, "unit_type": "城管", "source": "city"},"""
    val marker = "\"categories\": ["
    expect(bundled.contains(marker)) { "catalogue layout changed: no $marker" }
    return bundled.replaceFirst(marker, marker + entry)
}

/** `PUT /v1/reference/{kind}` as the demo's admin; answers the HTTP status. */
fun importAsAdmin(server: TestServer, kind: String, body: String): Int {
    val http = HttpClient.newHttpClient()
    val login = http.send(
        HttpRequest.newBuilder(URI.create("${server.url}/v1/login"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("""{"username": "admin", "password": "admin-demo-pass"}"""))
            .build(),
        HttpResponse.BodyHandlers.ofString(),
    )
    val token = Regex("\"token\"\\s*:\\s*\"([^\"]+)\"").find(login.body())?.groupValues?.get(1)
        ?: throw AssertionError("admin login: ${login.statusCode()} ${login.body()}")
    val put = http.send(
        HttpRequest.newBuilder(URI.create("${server.url}/v1/reference/$kind"))
            .header("Authorization", "Bearer $token")
            .PUT(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString(),
    )
    return put.statusCode()
}

fun cityCategory(day: Day) {
    val inspector = day.phone("insp-wang", "xihu-demo-2026")
    day.at(16, 0)
    inspector.sync()
    expect(inspector.searchCategories("共享单车").isEmpty()) { "not in the catalogue before the import" }
    val status = importAsAdmin(day.server, "categories", cityCatalogue())
    expect(status == 201) { "categories import answered $status" }
    inspector.sync()
    val found = inspector.searchCategories("共享单车")
    expect(found.map { it.key } == listOf(CITY_CATEGORY)) { "the city's category after sync: $found" }
    val limit = found[0].limits.normal.steps.first().limit
    expect(limit.amount == 5u && found[0].radiusM == 30.0 && found[0].newCode == "99001") { "its own limit and codes: ${found[0]}" }
    expect(inspector.referenceInfo().cityKinds.contains("categories")) { "info names the city's catalogue" }
    println("ok   city category: imported by the admin, found offline on the phone after sync")
}
