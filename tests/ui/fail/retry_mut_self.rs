use result_runtime::{fallible_task, Result};

struct Client;

impl Client {
    #[fallible_task(retry = 2)]
    async fn send(&mut self) -> Result<()> {
        Ok(())
    }
}

fn main() {}
