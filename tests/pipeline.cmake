# pipeline/: schedules are pure functions, tested without MPI (STYLE.md).
sm_add_test(test_schedule SOURCES test_schedule.c LIBS sm_pipeline)
