//! Methods taking `self`, `&self` and `&mut self`, using `Self` in the body.
use result_runtime::{fallible_task, traced, Code, Result, TaskError};

#[derive(Debug, Clone)]
struct Counter {
    n: u32,
}

impl Counter {
    fn make(n: u32) -> Self {
        Self { n }
    }

    #[fallible_task]
    async fn get(&self) -> Result<u32> {
        Ok(self.n)
    }

    #[fallible_task]
    async fn bump(&mut self, by: u32) -> Result<u32> {
        self.n += by;
        Ok(self.n)
    }

    #[fallible_task]
    async fn into_inner(self) -> u32 {
        let copy = Self::make(self.n);
        copy.n
    }

    #[fallible_task(retry = 2)]
    async fn retried(&self, tag: String) -> Result<String> {
        if self.n == 0 {
            return Err(TaskError::new(Code::INVALID_ARGUMENT, "zero"));
        }
        Ok(format!("{tag}{}", self.n))
    }

    #[traced]
    fn sync_method(&self) -> u32 {
        self.n
    }

    #[traced]
    async fn traced_mut(&mut self) -> Self {
        self.n += 1;
        self.clone()
    }

    #[fallible_task]
    async fn assoc() -> Result<Self> {
        Ok(Self::make(9))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut c = Counter::make(1);
    assert_eq!(c.get().await.unwrap(), 1);
    assert_eq!(c.bump(2).await.unwrap(), 3);
    assert_eq!(c.retried("n=".into()).await.unwrap(), "n=3");
    assert_eq!(c.sync_method(), 3);
    assert_eq!(c.traced_mut().await.n, 4);
    assert_eq!(c.into_inner().await.unwrap(), 4);
    assert_eq!(Counter::assoc().await.unwrap().n, 9);
    let err = Counter::make(0).retried(String::new()).await.unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT);
}
