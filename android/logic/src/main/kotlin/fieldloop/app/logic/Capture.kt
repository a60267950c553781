// Capturing a case: category picker (search by code or name), the position the location
// service last reported (with its accuracy and mock flag), photos from the camera, and
// the on-site verification with the pre-check's warnings shown before submitting.
package fieldloop.app.logic

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import uniffi.fieldloop_ffi.CaseDraft
import uniffi.fieldloop_ffi.CategoryView
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.NearbyCase
import uniffi.fieldloop_ffi.PhotoInput
import uniffi.fieldloop_ffi.PositionFix

/** A position as the platform's location API gave it (fused provider / CoreLocation). */
data class LocationReading(
    val lat: Double,
    val lon: Double,
    val accuracyM: Double,
    val provider: String,
    /** Android `Location.isMock`, iOS `sourceInformation.isSimulatedBySoftware`. */
    val mock: Boolean,
    val timeMs: Long,
) {
    fun toFix() = PositionFix(lat, lon, accuracyM, provider, mock)
}

data class CaptureState(
    val query: String = "",
    val categories: List<CategoryView> = emptyList(),
    val category: CategoryView? = null,
    val location: LocationReading? = null,
    val gridCell: String? = null,
    val photos: List<String> = emptyList(),
    val description: String = "",
    val saving: Boolean = false,
    val savedCaseId: String? = null,
    val error: String? = null,
    /** Open cases on this phone that the report may duplicate (疑似重复), nearest first. */
    val duplicates: List<NearbyCase> = emptyList(),
    /** The person saw the duplicate warning and reports anyway. */
    val duplicatesAcknowledged: Boolean = false,
) {
    val canSave: Boolean get() = category != null && location != null && photos.isNotEmpty() && !saving
    /** Shown next to the position: a mock location is recorded and the referee sees it. */
    val locationWarning: String?
        get() = when {
            location == null -> "正在定位…"
            location.mock -> "检测到模拟定位, 该位置将被标记"
            location.accuracyM > 50 -> "定位精度较差 (±${location.accuracyM.toInt()} 米)"
            else -> null
        }

    /** Shown before submitting when the phone already holds a case like this one close by. */
    val duplicateWarning: String?
        get() = duplicates.firstOrNull()?.let { nearest ->
            val more = if (duplicates.size > 1) " 等 ${duplicates.size} 件" else ""
            "附近 ${nearest.distanceM.toInt()} 米已有同类案件「${nearest.title}」$more, 可能重复上报"
        }
}

class CaptureModel(private val phone: FieldPhone) {
    private val _state = MutableStateFlow(CaptureState())
    val state: StateFlow<CaptureState> = _state

    fun search(query: String) {
        _state.value = _state.value.copy(query = query, categories = phone.searchCategories(query))
    }

    fun pick(category: CategoryView) {
        _state.value = _state.value.copy(category = category)
        checkDuplicates()
    }

    /** The location service's latest reading; the grid cell is resolved offline. */
    fun located(reading: LocationReading) {
        val cell = try {
            phone.gridCellAt(reading.lat, reading.lon)
        } catch (e: FieldException) {
            null
        }
        _state.value = _state.value.copy(location = reading, gridCell = cell)
        checkDuplicates()
    }

    /** Looks for open cases of the picked category near the position, offline. */
    private fun checkDuplicates() {
        val s = _state.value
        val category = s.category ?: return
        val location = s.location ?: return
        val found = try {
            phone.nearbyDuplicates(category.key, location.lat, location.lon)
        } catch (e: FieldException) {
            emptyList()
        }
        _state.value = s.copy(duplicates = found, duplicatesAcknowledged = false)
    }

    /** The person read the warning and the report is not the same problem. */
    fun reportAnyway() {
        _state.value = _state.value.copy(duplicatesAcknowledged = true)
    }

    fun photoTaken(path: String) {
        _state.value = _state.value.copy(photos = _state.value.photos + path)
    }

    fun describe(text: String) {
        _state.value = _state.value.copy(description = text)
    }

    /** Saves the case on the phone (durably, offline); sync sends it later. */
    suspend fun save(): String? {
        val s = _state.value
        val category = s.category ?: return null
        val location = s.location ?: return null
        // A possible duplicate is shown first; saving goes on once the person says so.
        if (s.duplicates.isNotEmpty() && !s.duplicatesAcknowledged) {
            _state.value = s.copy(error = s.duplicateWarning)
            return null
        }
        _state.value = s.copy(saving = true, error = null)
        return try {
            val id = phone.captureCase(
                CaseDraft(category.key, location.toFix(), s.description.ifBlank { null }, null,
                    false, null, s.photos),
            )
            _state.value = CaptureState(savedCaseId = id)
            id
        } catch (e: FieldException) {
            _state.value = s.copy(saving = false, error = Words.error(e))
            null
        }
    }
}

data class VerifyState(
    val warnings: List<String> = emptyList(),
    val checked: Boolean = false,
    val submitted: Boolean = false,
    val error: String? = null,
)

/** 核查 on site: pre-check first, show its warnings, submit anyway if the person insists. */
class VerifyModel(private val phone: FieldPhone, private val caseId: String) {
    private val _state = MutableStateFlow(VerifyState())
    val state: StateFlow<VerifyState> = _state

    suspend fun precheck(photo: String, at: LocationReading, fixed: Boolean = true) {
        _state.value = try {
            val report = phone.precheckVerification(caseId, fixed, listOf(PhotoInput(photo, at.toFix())))
            VerifyState(warnings = report.warnings.map { "${checkName(it.name)}: ${it.reason}" }, checked = true)
        } catch (e: FieldException) {
            VerifyState(error = Words.error(e))
        }
    }

    suspend fun submit(photo: String, at: LocationReading, note: String?, fixed: Boolean = true) {
        _state.value = try {
            phone.submitVerification(caseId, fixed, note, listOf(PhotoInput(photo, at.toFix())))
            _state.value.copy(submitted = true, error = null)
        } catch (e: FieldException) {
            _state.value.copy(error = Words.error(e))
        }
    }

    private fun checkName(name: String) = when (name) {
        "place" -> "位置"
        "time" -> "时间"
        "reuse" -> "照片重复"
        "evidence" -> "照片缺失"
        "workflow" -> "流程"
        else -> name
    }
}
