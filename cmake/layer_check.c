/* The program of a layer check (CMakeLists.txt, empiric_layer_check): the
 * layer's every object is linked whole against only the layers it may use,
 * so that a call into any other layer is an undefined reference. It is
 * never run. */
int main(void)
{
    return 0;
}
