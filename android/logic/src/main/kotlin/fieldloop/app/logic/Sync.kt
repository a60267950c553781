// Sync status: "sync now" with progress, cancel, and the result in words; the periodic
// background work (WorkManager, BGTaskScheduler) calls the same `FieldPhone.syncNow`.
package fieldloop.app.logic

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.SyncHandle
import uniffi.fieldloop_ffi.SyncListener
import uniffi.fieldloop_ffi.SyncPhase
import uniffi.fieldloop_ffi.SyncProgress

data class SyncState(
    val running: Boolean = false,
    val line: String = "",
    val pendingChanges: UInt = 0u,
    val pendingPhotos: UInt = 0u,
    val error: String? = null,
)

class SyncModel(private val phone: FieldPhone) {
    private val _state = MutableStateFlow(SyncState())
    val state: StateFlow<SyncState> = _state
    private var handle: SyncHandle? = null

    fun refreshCounts() {
        _state.value = _state.value.copy(pendingChanges = phone.pendingChanges(), pendingPhotos = phone.pendingPhotos())
    }

    /** Starts a sync and waits for it; progress updates `state` from the worker thread. */
    suspend fun syncNow() {
        val started = phone.startSync(object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                _state.value = _state.value.copy(running = true, line = describe(progress))
            }
        })
        handle = started
        _state.value = _state.value.copy(running = true, error = null)
        try {
            val result = started.result()
            _state.value = _state.value.copy(
                running = false,
                line = "已同步: 上传 ${result.photosUploaded} 张照片, 发送 ${result.docsPushed} 份, 收到 ${result.docsReceived} 份" +
                    if (result.quarantined > 0u) ", ${result.quarantined} 项被服务器退回" else "",
            )
        } catch (e: FieldException) {
            _state.value = _state.value.copy(running = false, error = Words.error(e))
        } finally {
            handle = null
            refreshCounts()
        }
    }

    fun cancel() {
        handle?.cancel()
    }

    private fun describe(p: SyncProgress): String = when (p.phase) {
        SyncPhase.PHOTOS -> "正在上传照片 ${p.photosUploaded}/${p.photosTotal}"
        SyncPhase.DOCUMENTS -> "正在同步 (已发送 ${p.docsPushed}, 已收到 ${p.docsReceived})"
        SyncPhase.REFERENCE -> "正在更新基础数据"
        SyncPhase.DONE -> "同步完成"
    }
}
