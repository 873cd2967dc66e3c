# datasets/: readers, synthetic data, shuffling, splitting, batching.
foreach(t idx png shd batch)
  sm_add_test(test_datasets_${t} SOURCES test_datasets_${t}.c LIBS sm_datasets)
endforeach()
