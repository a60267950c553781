// The app's logic: state holders over the generated bindings, plain Kotlin (no Android
// imports), so scripts/test-bindings compiles and runs it on the JVM against a real server.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin { jvmToolchain(17) }

sourceSets {
    main {
        kotlin.srcDir(rootProject.layout.buildDirectory.dir("bindings/kotlin"))
    }
}

tasks.named("compileKotlin") { dependsOn(rootProject.tasks.named("generateBindings")) }

dependencies {
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    // On the JVM JNA is the jar; the app replaces it with the Android AAR.
    compileOnly("net.java.dev.jna:jna:5.15.0")
}
