//! One wasm VM of the filter, started as Envoy starts it: the module is instantiated with WASI
//! preview1 and the proxy-wasm hostcalls, `_initialize` runs, the root context is created, then
//! `proxy_on_vm_start` and `proxy_on_configure` are called with the VM and plugin configuration.
//! The `proxy_on_*` callbacks are then called from here, each in its context.

use std::path::Path;

use wasmtime::{Config, Engine, Instance, Linker, Module, Result, Store, WasmParams, WasmResults, bail, format_err};
use wasmtime_wasi::WasiCtxBuilder;

use crate::hostcalls;
use crate::state::{State, Stream};

/// The id Envoy gives the plugin's root context here; HTTP contexts count up from it.
pub const ROOT_CONTEXT: u32 = 1;

/// A compiled filter module: compile once, instantiate for every VM.
#[derive(Clone)]
pub struct Filter {
    engine: Engine,
    module: Module,
}

impl Filter {
    pub fn load(path: &Path) -> Result<Filter> {
        let bytes = std::fs::read(path).map_err(|e| format_err!("cannot read {}: {e}", path.display()))?;
        Filter::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Filter> {
        let engine = Engine::new(&Config::new())?;
        let module = Module::new(&engine, bytes)?;
        if module.get_export("proxy_abi_version_0_2_1").is_none() {
            bail!("the module does not export proxy_abi_version_0_2_1 (Envoy would refuse it)");
        }
        Ok(Filter { engine, module })
    }
}

/// Why a VM did not start.
#[derive(Debug)]
pub enum StartError {
    /// `proxy_on_vm_start` or `proxy_on_configure` answered false: Envoy refuses the plugin.
    Refused { logs: Vec<(u32, String)> },
    /// The module could not be instantiated, or trapped.
    Failed(wasmtime::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Refused { logs } => {
                write!(f, "the filter refused its configuration")?;
                for (_, line) in logs {
                    write!(f, "; {line}")?;
                }
                Ok(())
            }
            StartError::Failed(e) => write!(f, "the filter VM failed: {e:?}"),
        }
    }
}

impl std::error::Error for StartError {}

pub struct Vm {
    pub store: Store<State>,
    instance: Instance,
    next_context: u32,
}

impl Vm {
    /// Instantiates and configures a VM; `clusters` are the Envoy clusters HTTP calls may name.
    pub fn start(filter: &Filter, plugin_configuration: &[u8], clusters: &[&str], clock_ns: Option<u64>) -> Result<Vm, StartError> {
        let mut vm = Vm::instantiate(filter, clusters).map_err(StartError::Failed)?;
        let state = vm.store.data_mut();
        match clock_ns {
            Some(ns) => state.clock_ns = ns,
            None => state.system_clock = true,
        }
        state.plugin_configuration = plugin_configuration.to_vec();
        state.root_context = ROOT_CONTEXT;
        let started = (|| -> Result<bool> {
            vm.call::<(), ()>(None, "_initialize", ())?;
            vm.call::<(u32, u32), ()>(Some(ROOT_CONTEXT), "proxy_on_context_create", (ROOT_CONTEXT, 0))?;
            let vm_config_len = vm.store.data().vm_configuration.len() as u32;
            if vm.call::<(u32, u32), u32>(Some(ROOT_CONTEXT), "proxy_on_vm_start", (ROOT_CONTEXT, vm_config_len))? == 0 {
                return Ok(false);
            }
            let len = plugin_configuration.len() as u32;
            Ok(vm.call::<(u32, u32), u32>(Some(ROOT_CONTEXT), "proxy_on_configure", (ROOT_CONTEXT, len))? != 0)
        })()
        .map_err(StartError::Failed)?;
        if !started {
            return Err(StartError::Refused { logs: vm.store.data().logs.clone() });
        }
        Ok(vm)
    }

    fn instantiate(filter: &Filter, clusters: &[&str]) -> Result<Vm> {
        let mut linker: Linker<State> = Linker::new(&filter.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)?;
        hostcalls::add_to_linker(&mut linker, &filter.module)?;
        let wasi = WasiCtxBuilder::new().inherit_stderr().build_p1();
        let mut store = Store::new(&filter.engine, State::new(wasi, clusters));
        let instance = linker.instantiate(&mut store, &filter.module)?;
        Ok(Vm { store, instance, next_context: ROOT_CONTEXT + 1 })
    }

    /// Calls the export `name` with the current context set to `context` (if given).
    pub fn call<P: WasmParams, R: WasmResults>(&mut self, context: Option<u32>, name: &str, params: P) -> Result<R> {
        if let Some(id) = context {
            self.store.data_mut().current_context = id;
        }
        let func = self.instance.get_typed_func::<P, R>(&mut self.store, name)?;
        func.call(&mut self.store, params)
    }

    /// Creates an HTTP context (a new stream) and returns its id.
    pub fn create_stream(&mut self) -> Result<u32> {
        let id = self.next_context;
        self.next_context += 1;
        self.store.data_mut().streams.insert(id, Stream::default());
        self.call::<(u32, u32), ()>(Some(id), "proxy_on_context_create", (id, ROOT_CONTEXT))?;
        Ok(id)
    }

    /// Ends a stream as Envoy does: access log, done, delete.
    pub fn end_stream(&mut self, id: u32) -> Result<()> {
        self.call::<u32, ()>(Some(id), "proxy_on_log", id)?;
        self.call::<u32, u32>(Some(id), "proxy_on_done", id)?;
        self.call::<u32, ()>(Some(id), "proxy_on_delete", id)?;
        self.store.data_mut().streams.remove(&id);
        Ok(())
    }

    pub fn state(&self) -> &State {
        self.store.data()
    }

    pub fn state_mut(&mut self) -> &mut State {
        self.store.data_mut()
    }
}
