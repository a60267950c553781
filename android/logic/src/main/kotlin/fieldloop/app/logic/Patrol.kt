// Patrol recording: the location service (a foreground service on Android, background
// location updates on iOS) feeds readings; they are stored in batches so a killed app
// loses at most one batch, and the screen shows the live figures.
package fieldloop.app.logic

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import uniffi.fieldloop_core.Fix
import uniffi.fieldloop_core.PatrolKind
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.InboxFilter
import uniffi.fieldloop_ffi.PatrolLive

data class PatrolState(
    val patrolId: String? = null,
    val live: PatrolLive? = null,
    val paused: Boolean = false,
    val buffered: Int = 0,
    val error: String? = null,
) {
    val distanceText: String get() = live?.let { "%.2f 公里".format(it.lengthM / 1000) } ?: "0.00 公里"
    val durationText: String get() = live?.let { "${it.durationMs / 60_000} 分钟" } ?: "0 分钟"
    val coverageText: String?
        get() = live?.river?.coverage?.let { "河段覆盖 ${(it.share * 100).toInt()}%" }
}

class PatrolRecorder(private val phone: FieldPhone, private val batchSize: Int = 20) {
    private val _state = MutableStateFlow(PatrolState())
    val state: StateFlow<PatrolState> = _state
    private val buffer = mutableListOf<Fix>()

    fun startRiver(segment: String) = start(PatrolKind.RIVER, segment, emptyList())

    fun startGrid(cells: List<String>) = start(PatrolKind.GRID, null, cells)

    private fun start(kind: PatrolKind, segment: String?, cells: List<String>) {
        _state.value = try {
            val id = phone.startPatrol(kind, segment, cells)
            PatrolState(patrolId = id, live = phone.patrolLive(id))
        } catch (e: FieldException) {
            PatrolState(error = Words.error(e))
        }
    }

    /**
     * After the app was killed: picks up the open patrol, paused or running as the store
     * kept it (a pause survives the restart). False when there is none.
     */
    fun restore(): Boolean {
        val open = phone.inbox(InboxFilter.PATROLS).firstOrNull() ?: return false
        _state.value = try {
            val live = phone.patrolLive(open.id)
            PatrolState(patrolId = open.id, live = live, paused = live.paused)
        } catch (e: FieldException) {
            PatrolState(error = Words.error(e))
        }
        return true
    }

    /** One reading from the location service; stored every `batchSize` readings. */
    @Synchronized
    fun onLocation(reading: LocationReading) {
        if (_state.value.paused || _state.value.patrolId == null) return
        buffer += Fix(reading.timeMs, reading.lat, reading.lon, reading.accuracyM, reading.mock)
        if (buffer.size >= batchSize) flush() else _state.value = _state.value.copy(buffered = buffer.size)
    }

    @Synchronized
    fun flush() {
        val id = _state.value.patrolId ?: return
        if (buffer.isEmpty()) return
        _state.value = try {
            phone.addFixes(id, buffer.toList())
            buffer.clear()
            _state.value.copy(live = phone.patrolLive(id), buffered = 0, error = null)
        } catch (e: FieldException) {
            _state.value.copy(error = Words.error(e))
        }
    }

    fun pause() {
        val id = _state.value.patrolId ?: return
        flush()
        phone.pausePatrol(id)
        _state.value = _state.value.copy(paused = true)
    }

    fun resume() {
        val id = _state.value.patrolId ?: return
        phone.resumePatrol(id)
        _state.value = _state.value.copy(paused = false)
    }

    fun end() {
        val id = _state.value.patrolId ?: return
        flush()
        phone.endPatrol(id)
        _state.value = _state.value.copy(live = phone.patrolLive(id))
    }
}
