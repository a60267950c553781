// The task list: rows sorted by deadline with the band colour and the working-time
// countdown, computed offline by the core.
package fieldloop.app.logic

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import uniffi.fieldloop_core.Band
import uniffi.fieldloop_core.DocKind
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.InboxFilter

data class TaskRow(
    val id: String,
    val kind: DocKind,
    val title: String,
    val status: String,
    val band: Band?,
    val bandLabel: String,
    val countdown: String,
    /** Green, yellow, red, 督办: the colour the row shows. */
    val colour: Colour,
)

enum class Colour { GREEN, YELLOW, RED, PURPLE, GREY }

data class InboxState(val filter: InboxFilter, val rows: List<TaskRow>, val error: String?)

class InboxModel(private val phone: FieldPhone) {
    private val _state = MutableStateFlow(InboxState(InboxFilter.ALL, emptyList(), null))
    val state: StateFlow<InboxState> = _state

    fun show(filter: InboxFilter) {
        _state.value = _state.value.copy(filter = filter)
        refresh()
    }

    /** Re-reads the list (after a sync, and every minute for the countdowns). */
    fun refresh() {
        val filter = _state.value.filter
        _state.value = try {
            InboxState(filter, phone.inbox(filter).map { task ->
                TaskRow(
                    id = task.id,
                    kind = task.kind,
                    title = task.title,
                    status = task.status,
                    band = task.band,
                    bandLabel = Words.band(task.band),
                    countdown = Words.countdown(task.remainingWorkingMinutes),
                    colour = when (task.band) {
                        Band.GREEN -> Colour.GREEN
                        Band.YELLOW -> Colour.YELLOW
                        Band.RED -> Colour.RED
                        Band.ESCALATED -> Colour.PURPLE
                        null -> Colour.GREY
                    },
                )
            }, null)
        } catch (e: FieldException) {
            _state.value.copy(error = Words.error(e))
        }
    }
}
