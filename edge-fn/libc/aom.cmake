# Included at the end of libaom's `project()` (see wasm32.cmake): once its
# CMakeLists.txt has defined every target, aom_av1_rc leaves `all`.
function(edge_leave_out_aom_av1_rc)
  if(TARGET aom_av1_rc)
    set_target_properties(aom_av1_rc PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endif()
endfunction()
cmake_language(DEFER CALL edge_leave_out_aom_av1_rc)
