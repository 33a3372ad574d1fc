//! Native async fn in traits (in the impl and as a default body) and `#[async_trait]`.
use result_runtime::{fallible_task, traced, Code, Result, TaskError};

trait Repo {
    async fn load(&self, id: u32) -> Result<String>;

    #[fallible_task]
    async fn load_twice(&self, id: u32) -> Result<String> {
        let one = self.load(id).await?;
        Ok(format!("{one}{one}"))
    }
}

struct Mem;

impl Repo for Mem {
    #[fallible_task]
    #[traced]
    async fn load(&self, id: u32) -> Result<String> {
        if id == 0 {
            return Err(TaskError::new(Code::NOT_FOUND, "no 0"));
        }
        Ok(id.to_string())
    }
}

#[async_trait::async_trait]
trait DynRepo: Send + Sync {
    async fn fetch(&self, id: u32) -> Result<u32>;
    async fn plain(&self) -> u32;
}

struct Remote {
    base: u32,
}

#[async_trait::async_trait]
impl DynRepo for Remote {
    #[fallible_task(retry = 1)]
    async fn fetch(&self, id: u32) -> Result<u32> {
        if id == 0 {
            panic!("id zero");
        }
        Ok(self.base + id)
    }

    #[traced(level = "debug")]
    async fn plain(&self) -> u32 {
        self.base
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(Mem.load_twice(4).await.unwrap(), "44");
    let err = Mem.load_twice(0).await.unwrap_err();
    assert_eq!(err.code(), Code::NOT_FOUND);
    assert!(err.task().unwrap().ends_with("::load"), "the innermost task names the error");

    let repo: Box<dyn DynRepo> = Box::new(Remote { base: 10 });
    assert_eq!(repo.fetch(1).await.unwrap(), 11);
    let err = repo.fetch(0).await.unwrap_err();
    assert_eq!(err.kind(), result_runtime::ErrorKind::Panicked);
    assert!(err.task().unwrap().ends_with("::fetch"));
    assert_eq!(repo.plain().await, 10);
}
