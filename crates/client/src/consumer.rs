pub struct Consumer;
