"""Long work every face can see, stop and resume: the job runner, semports and gene transfusions."""
