//! The hydrate entry: compiled to WebAssembly, it brings the server-rendered page to life.

// The pages' view types nest deeply; computing their layout here needs the same headroom as
// the `app` crate.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
