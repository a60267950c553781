// Log in / out and who is logged in: the first screen and the app bar.
package fieldloop.app.logic

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone
import uniffi.fieldloop_ffi.Me

sealed interface SessionState {
    data object LoggedOut : SessionState
    data class LoggedIn(val me: Me) : SessionState
    data class Failed(val message: String) : SessionState
}

/** Blocking calls: the UI layer runs them on an IO dispatcher. */
class SessionModel(private val phone: FieldPhone, private val deviceName: String) {
    private val _state = MutableStateFlow<SessionState>(
        phone.whoAmI()?.let { SessionState.LoggedIn(it) } ?: SessionState.LoggedOut,
    )
    val state: StateFlow<SessionState> = _state

    fun login(username: String, password: String) {
        _state.value = try {
            val session = phone.login(username.trim(), password)
            phone.registerDevice(deviceName)
            SessionState.LoggedIn(session.me)
        } catch (e: FieldException) {
            SessionState.Failed(Words.error(e))
        }
    }

    fun logout() {
        try {
            phone.logout()
        } finally {
            _state.value = SessionState.LoggedOut
        }
    }
}
