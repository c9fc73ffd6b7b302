//! The i8259A programmable interrupt controller pair of a PC (Intel 8259A
//! datasheet, order no. 231468; section names below refer to it), with the
//! PIIX/ICH edge/level control registers (ELCR, Intel ICH9 datasheet
//! 13.4.5.6/7).
//!
//! [`Pic`] is the master/slave pair as one register state machine: the slave's
//! INT output feeds master input 2 ([`CASCADE_IRQ`]), the master's INT output
//! is the processor's INTR, driven through the [`IrqLine`] it was given (the
//! machine connects it to the local APIC's LINT0, which passes it on in
//! ExtINT mode). When the processor takes the interrupt, the machine calls
//! [`Pic::acknowledge`] for the vector: the two INTA cycles.
//!
//! Inputs 0..=15 are driven by devices through [`PicPin`]s. They are edge
//! triggered unless the ELCR (at 0x4D0/0x4D1) or ICW1.LTIM makes them level
//! triggered; ELCR bits for IRQ 0, 1, 2, 8 and 13 are hardwired to 0.
//!
//! The logic follows the datasheet's programming model ("Initialization
//! Command Words", "Operation Command Words") as QEMU's `hw/intc/i8259.c`
//! implements it, with two deliberate differences, both datasheet-faithful:
//! - ICW1 resets the edge sense circuit, so an input already high must go
//!   low and high again before it requests an interrupt (QEMU forgets the
//!   input level instead).
//! - The cascade input is a level: master IRR bit 2 follows the slave's INT
//!   output, so a second slave request that arrives while the first is being
//!   acknowledged is never lost.
//!
//! Linux masks the PIC once the IOAPIC is set up, but probes it first
//! (`probe_8259A`: mask 0xFB written, read back) and initialises it
//! (`init_8259A`: ICW1 0x11, ICW2 0x30/0x38, ICW3 0x04/0x02, ICW4 0x01).

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::irq::IrqLine;

/// The master's command port; its data port is the next one.
pub const PIC_MASTER_BASE: u16 = 0x20;
/// The slave's command port; its data port is the next one.
pub const PIC_SLAVE_BASE: u16 = 0xA0;
/// The two ELCR registers (master, slave).
pub const ELCR_BASE: u16 = 0x4D0;
/// How many ports each of the three blocks decodes.
pub const PIC_PORTS: u16 = 2;
/// The master input the slave's INT output is wired to.
pub const CASCADE_IRQ: u8 = 2;

/// ELCR bits that can be set: IRQ 0, 1 and 2 (master) and 8 and 13 (slave)
/// are always edge triggered (ICH9 13.4.5.6/7).
const ELCR_MASK: [u8; 2] = [0xF8, 0xDE];

/// ICW1 bits (datasheet, "Initialization Command Word 1").
mod icw1 {
    /// ICW4 will follow.
    pub const IC4: u8 = 1 << 0;
    /// Single (no cascade).
    pub const SNGL: u8 = 1 << 1;
    /// Level triggered mode for every input.
    pub const LTIM: u8 = 1 << 3;
    /// Marks a command port write as ICW1.
    pub const INIT: u8 = 1 << 4;
}

/// ICW4 bits.
mod icw4 {
    /// Automatic end of interrupt.
    pub const AEOI: u8 = 1 << 1;
    /// Special fully nested mode.
    pub const SFNM: u8 = 1 << 4;
}

/// OCW3 bits (datasheet, "Operation Command Word 3").
mod ocw3 {
    /// Read register: 0 = IRR, 1 = ISR (when RR is set).
    pub const RIS: u8 = 1 << 0;
    /// Read register command.
    pub const RR: u8 = 1 << 1;
    /// Poll command.
    pub const P: u8 = 1 << 2;
    /// Marks a command port write as OCW3 (with bit 4 clear).
    pub const SELECT: u8 = 1 << 3;
    /// Special mask mode value.
    pub const SMM: u8 = 1 << 5;
    /// Enable special mask mode change.
    pub const ESMM: u8 = 1 << 6;
}

/// Where a chip is in its initialisation sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitStep {
    /// Initialised: data port writes are OCW1 (the mask).
    #[default]
    Ready,
    /// ICW1 written; ICW2 (vector base) next.
    Icw2,
    /// ICW3 (cascade wiring) next.
    Icw3,
    /// ICW4 (mode) next.
    Icw4,
}

/// One 8259A's registers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChipState {
    /// Interrupt request register.
    pub irr: u8,
    /// In-service register.
    pub isr: u8,
    /// Interrupt mask register (OCW1).
    pub imr: u8,
    /// Input pin levels, for edge detection.
    pub input: u8,
    /// The input with the highest priority (priority rotation).
    pub lowest_priority_plus_one: u8,
    /// ICW2 vector base (bits 7:3).
    pub vector_base: u8,
    /// Edge/level control register.
    pub elcr: u8,
    pub init: InitStep,
    /// ICW1.IC4: an ICW4 follows in the sequence.
    pub expects_icw4: bool,
    /// ICW1.SNGL.
    pub single: bool,
    /// ICW1.LTIM.
    pub level_triggered: bool,
    /// ICW4.AEOI.
    pub auto_eoi: bool,
    /// ICW4.SFNM.
    pub special_fully_nested: bool,
    /// OCW2 "rotate in automatic EOI mode".
    pub rotate_on_auto_eoi: bool,
    /// OCW3 special mask mode.
    pub special_mask: bool,
    /// OCW3: the command port reads ISR (else IRR).
    pub read_isr: bool,
    /// OCW3 poll command pending: the next read is the poll word.
    pub poll: bool,
}

/// The state of both chips, apart from connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PicState {
    pub master: ChipState,
    pub slave: ChipState,
}

/// Index of each chip in [`Pic`].
const MASTER: usize = 0;
const SLAVE: usize = 1;

impl ChipState {
    /// Inputs that are level triggered (ELCR or LTIM).
    fn level_mask(&self) -> u8 {
        if self.level_triggered {
            0xFF
        } else {
            self.elcr
        }
    }

    /// Drives input `irq` (0..=7) to `level`: a rising edge latches IRR in
    /// edge mode; in level mode IRR follows the input.
    fn set_input(&mut self, irq: u8, level: bool) {
        let bit = 1u8 << (irq & 7);
        let was = self.input & bit != 0;
        if level {
            self.input |= bit;
            if self.level_mask() & bit != 0 || !was {
                self.irr |= bit;
            }
        } else {
            self.input &= !bit;
            if self.level_mask() & bit != 0 {
                self.irr &= !bit;
            }
        }
    }

    /// Priority (0 = highest) of the highest-priority bit of `mask` under
    /// the current rotation, or 8 if `mask` is empty.
    fn priority(&self, mask: u8) -> u8 {
        (0..8)
            .find(|p| mask & (1 << ((p + self.lowest_priority_plus_one) & 7)) != 0)
            .unwrap_or(8)
    }

    /// The input to present to the processor, if any: the highest-priority
    /// unmasked request that beats everything in service (datasheet,
    /// "Fully nested mode"; "Special mask mode"; "Special fully nested").
    fn pending(&self, is_master: bool) -> Option<u8> {
        let request = self.priority(self.irr & !self.imr);
        if request == 8 {
            return None;
        }
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        if self.special_fully_nested && is_master {
            in_service &= !(1 << CASCADE_IRQ);
        }
        (request < self.priority(in_service)).then(|| (request + self.lowest_priority_plus_one) & 7)
    }

    /// The INTA cycle for input `irq`: ISR set (unless AEOI), and an edge
    /// request consumed.
    fn intack(&mut self, irq: u8) {
        let bit = 1u8 << irq;
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.lowest_priority_plus_one = (irq + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
        if self.level_mask() & bit == 0 {
            self.irr &= !bit;
        }
    }

    /// ICW1: the initialisation sequence starts (datasheet, "Initialization
    /// Command Words": edge sense reset, IMR cleared, IR7 lowest priority,
    /// special mask mode cleared, IRR selected for reading).
    fn start_init(&mut self, value: u8) {
        let elcr = self.elcr;
        let input = self.input;
        *self = ChipState {
            elcr,
            input,
            init: InitStep::Icw2,
            expects_icw4: value & icw1::IC4 != 0,
            single: value & icw1::SNGL != 0,
            level_triggered: value & icw1::LTIM != 0,
            ..ChipState::default()
        };
        self.irr = input & self.level_mask();
    }

    /// OCW2: end of interrupt and rotation commands (bits 7:5).
    fn ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            // Rotate in automatic EOI mode: clear (0) / set (4).
            0 => self.rotate_on_auto_eoi = false,
            4 => self.rotate_on_auto_eoi = true,
            // Non-specific EOI (1); rotate on non-specific EOI (5).
            cmd @ (1 | 5) => {
                let p = self.priority(self.isr);
                if p != 8 {
                    let irq = (p + self.lowest_priority_plus_one) & 7;
                    self.isr &= !(1 << irq);
                    if cmd == 5 {
                        self.lowest_priority_plus_one = (irq + 1) & 7;
                    }
                }
            }
            // Specific EOI.
            3 => self.isr &= !(1 << level),
            // Set priority: `level` becomes the lowest.
            6 => self.lowest_priority_plus_one = (level + 1) & 7,
            // Rotate on specific EOI.
            7 => {
                self.isr &= !(1 << level);
                self.lowest_priority_plus_one = (level + 1) & 7;
            }
            // 2: no operation.
            _ => {}
        }
    }

    fn write_command(&mut self, value: u8) {
        if value & icw1::INIT != 0 {
            self.start_init(value);
        } else if value & ocw3::SELECT != 0 {
            if value & ocw3::P != 0 {
                self.poll = true;
            }
            if value & ocw3::RR != 0 {
                self.read_isr = value & ocw3::RIS != 0;
            }
            if value & ocw3::ESMM != 0 {
                self.special_mask = value & ocw3::SMM != 0;
            }
        } else {
            self.ocw2(value);
        }
    }

    fn write_data(&mut self, value: u8) {
        self.init = match self.init {
            InitStep::Ready => {
                self.imr = value;
                InitStep::Ready
            }
            InitStep::Icw2 => {
                self.vector_base = value & 0xF8;
                match (self.single, self.expects_icw4) {
                    (false, _) => InitStep::Icw3,
                    (true, true) => InitStep::Icw4,
                    (true, false) => InitStep::Ready,
                }
            }
            // ICW3 names the cascade wiring, which is fixed on a PC.
            InitStep::Icw3 if self.expects_icw4 => InitStep::Icw4,
            InitStep::Icw3 => InitStep::Ready,
            InitStep::Icw4 => {
                self.special_fully_nested = value & icw4::SFNM != 0;
                self.auto_eoi = value & icw4::AEOI != 0;
                InitStep::Ready
            }
        };
    }
}

/// The master/slave pair.
pub struct Pic {
    chips: [ChipState; 2],
    /// The level last driven on `intr`.
    intr_level: bool,
    intr: Box<dyn IrqLine>,
}

impl std::fmt::Debug for Pic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pic")
            .field("state", &self.state())
            .field("intr", &self.intr_level)
            .finish()
    }
}

impl Pic {
    /// A pair at power-on (every register 0, as QEMU resets it), driving the
    /// processor's INTR through `intr`.
    pub fn new(intr: Box<dyn IrqLine>) -> Pic {
        Pic::from_state(&PicState::default(), intr)
    }

    /// A pair in `state`, driving INTR through `intr`.
    pub fn from_state(state: &PicState, intr: Box<dyn IrqLine>) -> Pic {
        let mut pic = Pic {
            chips: [state.master.clone(), state.slave.clone()],
            intr_level: false,
            intr,
        };
        for (chip, mask) in pic.chips.iter_mut().zip(ELCR_MASK) {
            chip.elcr &= mask;
        }
        pic.update();
        pic
    }

    /// The registers of both chips.
    pub fn state(&self) -> PicState {
        PicState {
            master: self.chips[MASTER].clone(),
            slave: self.chips[SLAVE].clone(),
        }
    }

    /// Drives input `irq` (0..=15; 8..=15 are the slave's) to `level`.
    /// Other numbers are ignored, and so is 2, the cascade.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        match irq {
            CASCADE_IRQ => return,
            0..=7 => self.chips[MASTER].set_input(irq, level),
            8..=15 => self.chips[SLAVE].set_input(irq - 8, level),
            _ => return,
        }
        self.update();
    }

    /// Whether INTR is asserted: an interrupt awaits acknowledgement.
    pub fn intr(&self) -> bool {
        self.intr_level
    }

    /// The INTA cycles: the vector of the highest-priority request, now in
    /// service. With nothing to deliver (the request went away between INTR
    /// and INTA) the chip answers with IR7 of the master, or of the slave if
    /// the cascade was chosen: the spurious interrupt the datasheet
    /// describes ("Interrupt Sequence", step 4 note).
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.chips[MASTER].pending(true) {
            Some(irq) => {
                self.chips[MASTER].intack(irq);
                if irq == CASCADE_IRQ && !self.chips[MASTER].single {
                    let slave = &mut self.chips[SLAVE];
                    match slave.pending(false) {
                        Some(irq) => {
                            slave.intack(irq);
                            slave.vector_base | irq
                        }
                        None => slave.vector_base | 7,
                    }
                } else {
                    self.chips[MASTER].vector_base | irq
                }
            }
            None => self.chips[MASTER].vector_base | 7,
        };
        self.update();
        tracing::trace!(target: "pic", vector, "acknowledged");
        vector
    }

    /// Reads `port` (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1); other ports read
    /// 0xFF.
    pub fn read(&mut self, port: u16) -> u8 {
        let (idx, data) = match port {
            0x20 | 0x21 => (MASTER, port & 1 != 0),
            0xA0 | 0xA1 => (SLAVE, port & 1 != 0),
            0x4D0 | 0x4D1 => return self.chips[usize::from(port & 1)].elcr,
            _ => return 0xFF,
        };
        let chip = &mut self.chips[idx];
        let value = if chip.poll {
            // OCW3 poll: the interrupt is acknowledged by the read itself,
            // and the word is 0x80 | level, or 0 if nothing is pending.
            chip.poll = false;
            match chip.pending(idx == MASTER) {
                Some(irq) => {
                    chip.intack(irq);
                    0x80 | irq
                }
                None => 0,
            }
        } else if data {
            chip.imr
        } else if chip.read_isr {
            chip.isr
        } else {
            chip.irr
        };
        self.update();
        value
    }

    /// Writes `value` to `port`; other ports are ignored.
    pub fn write(&mut self, port: u16, value: u8) {
        match port {
            0x20 => self.chips[MASTER].write_command(value),
            0x21 => self.chips[MASTER].write_data(value),
            0xA0 => self.chips[SLAVE].write_command(value),
            0xA1 => self.chips[SLAVE].write_data(value),
            0x4D0 | 0x4D1 => {
                let i = usize::from(port & 1);
                let chip = &mut self.chips[i];
                chip.elcr = value & ELCR_MASK[i];
                // A newly level-triggered input's request follows its pin.
                let level = chip.level_mask();
                chip.irr = (chip.irr & !level) | (chip.input & level);
            }
            _ => return,
        }
        self.update();
    }

    /// Propagates the slave's output to the master's cascade input and the
    /// master's output to INTR.
    fn update(&mut self) {
        let slave_int = self.chips[SLAVE].pending(false).is_some();
        let master = &mut self.chips[MASTER];
        let bit = 1u8 << CASCADE_IRQ;
        if slave_int {
            master.input |= bit;
            master.irr |= bit;
        } else {
            master.input &= !bit;
            master.irr &= !bit;
        }
        let intr = master.pending(true).is_some();
        if intr != self.intr_level {
            self.intr_level = intr;
            self.intr.set_level(intr);
        }
    }
}

/// A [`Pic`] shared between its ports, its input pins and the machine.
pub type SharedPic = Arc<Mutex<Pic>>;

/// One input pin of a shared [`Pic`], for a device's [`IrqLine`].
#[derive(Clone)]
pub struct PicPin {
    pic: SharedPic,
    irq: u8,
}

impl PicPin {
    /// Input `irq` (0..=15) of `pic`.
    pub fn new(pic: SharedPic, irq: u8) -> PicPin {
        PicPin { pic, irq }
    }
}

impl std::fmt::Debug for PicPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PicPin").field("irq", &self.irq).finish()
    }
}

impl IrqLine for PicPin {
    fn set_level(&self, high: bool) {
        self.pic.lock().set_irq(self.irq, high);
    }
}

/// The adapter for one of the pair's three port blocks (master, slave,
/// ELCR), each [`PIC_PORTS`] wide. Byte `i` of a wider access goes to port
/// `base + offset + i`.
#[derive(Clone)]
pub struct PicPorts {
    pic: SharedPic,
    base: u16,
}

impl std::fmt::Debug for PicPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PicPorts")
            .field("base", &self.base)
            .finish()
    }
}

impl PicPorts {
    /// The master's ports, at [`PIC_MASTER_BASE`].
    pub fn master(pic: SharedPic) -> PicPorts {
        PicPorts {
            pic,
            base: PIC_MASTER_BASE,
        }
    }

    /// The slave's ports, at [`PIC_SLAVE_BASE`].
    pub fn slave(pic: SharedPic) -> PicPorts {
        PicPorts {
            pic,
            base: PIC_SLAVE_BASE,
        }
    }

    /// The ELCR pair, at [`ELCR_BASE`].
    pub fn elcr(pic: SharedPic) -> PicPorts {
        PicPorts {
            pic,
            base: ELCR_BASE,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pic> {
        self.pic.lock()
    }

    fn port(&self, offset: u64, i: usize) -> Option<u16> {
        let o = offset.checked_add(i as u64)?;
        (o < u64::from(PIC_PORTS)).then(|| self.base + o as u16)
    }
}

impl mem::BusDevice for PicPorts {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let mut pic = self.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match self.port(offset, i) {
                Some(port) => pic.read(port),
                None => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut pic = self.lock();
        for (i, &byte) in data.iter().enumerate() {
            if let Some(port) = self.port(offset, i) {
                pic.write(port, byte);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;
    use crate::irq::IrqRecorder;

    fn pic() -> (Pic, IrqRecorder) {
        let intr = IrqRecorder::default();
        (Pic::new(Box::new(intr.clone())), intr)
    }

    /// Linux's `init_8259A` with vectors 0x30/0x38.
    fn linux_init(p: &mut Pic) {
        p.write(0x21, 0xFF);
        p.write(0xA1, 0xFF);
        p.write(0x20, 0x11);
        p.write(0x21, 0x30);
        p.write(0x21, 0x04);
        p.write(0x21, 0x01);
        p.write(0xA0, 0x11);
        p.write(0xA1, 0x38);
        p.write(0xA1, 0x02);
        p.write(0xA1, 0x01);
        p.write(0x21, 0x00);
        p.write(0xA1, 0x00);
    }

    #[test]
    fn pic_mask_write_reads_back() {
        // Linux's probe_8259A.
        let (mut p, _) = pic();
        p.write(0xA1, 0xFF);
        p.write(0x21, 0xFB);
        assert_eq!(p.read(0x21), 0xFB);
        assert_eq!(p.read(0xA1), 0xFF);
    }

    #[test]
    fn pic_init_sequence_sets_vector_base_and_clears_mask() {
        let (mut p, _) = pic();
        p.write(0x21, 0x55);
        linux_init(&mut p);
        let s = p.state();
        assert_eq!(s.master.vector_base, 0x30);
        assert_eq!(s.slave.vector_base, 0x38);
        assert_eq!(s.master.init, InitStep::Ready);
        assert_eq!(p.read(0x21), 0);
    }

    #[test]
    fn pic_edge_irq_raises_intr_and_acknowledge_gives_vector() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.set_irq(0, true);
        assert!(intr.level());
        assert_eq!(p.acknowledge(), 0x30);
        assert!(!intr.level());
        p.write(0x20, 0x0B); // OCW3: read ISR
        assert_eq!(p.read(0x20), 0x01);
        p.write(0x20, 0x20); // non-specific EOI
        assert_eq!(p.read(0x20), 0x00);
    }

    #[test]
    fn pic_edge_held_high_requests_once() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.set_irq(4, true);
        assert_eq!(p.acknowledge(), 0x34);
        p.write(0x20, 0x20);
        p.set_irq(4, true);
        assert!(!intr.level(), "no new edge");
        p.set_irq(4, false);
        p.set_irq(4, true);
        assert!(intr.level());
    }

    #[test]
    fn pic_masked_irq_stays_in_irr_without_intr() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.write(0x21, 0x01);
        p.set_irq(0, true);
        assert!(!intr.level());
        p.write(0x20, 0x0A); // OCW3: read IRR
        assert_eq!(p.read(0x20), 0x01);
        p.write(0x21, 0x00);
        assert!(intr.level());
    }

    #[test]
    fn pic_slave_irq_cascades_through_master_irq2() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.set_irq(8, true);
        assert!(intr.level());
        assert_eq!(p.acknowledge(), 0x38);
        p.write(0xA0, 0x0B);
        assert_eq!(p.read(0xA0), 0x01);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0x04);
    }

    #[test]
    fn pic_higher_priority_preempts_in_service() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.set_irq(3, true);
        assert_eq!(p.acknowledge(), 0x33);
        p.set_irq(5, true);
        assert!(!intr.level(), "IRQ5 is lower priority than IRQ3 in service");
        p.set_irq(1, true);
        assert!(intr.level());
        assert_eq!(p.acknowledge(), 0x31);
        p.write(0x20, 0x20); // EOI clears IRQ1 (highest in service)
        p.write(0x20, 0x20); // then IRQ3
        assert_eq!(p.acknowledge(), 0x35);
    }

    #[test]
    fn pic_specific_eoi_clears_named_level() {
        let (mut p, _) = pic();
        linux_init(&mut p);
        p.set_irq(6, true);
        p.acknowledge();
        p.write(0x20, 0x60 | 6);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0);
    }

    #[test]
    fn pic_nothing_pending_acknowledge_is_spurious_irq7() {
        let (mut p, _) = pic();
        linux_init(&mut p);
        assert_eq!(p.acknowledge(), 0x37);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0, "spurious IRQ7 is not put in service");
    }

    #[test]
    fn pic_poll_returns_level_and_acknowledges() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.set_irq(5, true);
        p.write(0x20, 0x0C); // OCW3: poll
        assert_eq!(p.read(0x20), 0x85);
        assert!(!intr.level());
        p.write(0x20, 0x0C);
        assert_eq!(p.read(0x20), 0x00);
    }

    #[test]
    fn pic_auto_eoi_leaves_isr_clear() {
        let (mut p, _) = pic();
        p.write(0x20, 0x13); // single, ICW4
        p.write(0x21, 0x08);
        p.write(0x21, 0x03); // AEOI, 8086
        p.write(0x21, 0x00);
        p.set_irq(0, true);
        assert_eq!(p.acknowledge(), 0x08);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0);
    }

    #[test]
    fn pic_elcr_level_irq_follows_pin_and_masks_fixed_bits() {
        let (mut p, intr) = pic();
        linux_init(&mut p);
        p.write(0x4D1, 0xFF);
        assert_eq!(p.read(0x4D1), 0xDE);
        p.write(0x4D0, 0xFF);
        assert_eq!(p.read(0x4D0), 0xF8);
        p.set_irq(9, true);
        assert!(intr.level());
        p.set_irq(9, false);
        assert!(!intr.level(), "a level request goes away with its pin");
        p.set_irq(9, true);
        assert_eq!(p.acknowledge(), 0x39);
        p.write(0xA0, 0x20);
        p.write(0x20, 0x20);
        assert!(intr.level(), "still asserted after EOI: requests again");
    }

    #[test]
    fn pic_rotate_on_eoi_changes_priority() {
        let (mut p, _) = pic();
        linux_init(&mut p);
        p.set_irq(0, true);
        p.acknowledge();
        p.write(0x20, 0xA0); // rotate on non-specific EOI: IRQ0 now lowest
        p.set_irq(0, false);
        p.set_irq(0, true);
        p.set_irq(7, true);
        assert_eq!(p.acknowledge(), 0x37);
    }

    #[test]
    fn pic_icw1_resets_edge_sense() {
        let (mut p, intr) = pic();
        p.set_irq(1, true);
        linux_init(&mut p);
        assert!(!intr.level());
        p.set_irq(1, true);
        assert!(!intr.level(), "an input already high is not a new edge");
    }

    #[test]
    fn pic_bus_adapter_routes_ports_and_ignores_out_of_range() {
        let shared: SharedPic = Arc::new(Mutex::new(Pic::new(Box::new(crate::irq::NoIrq))));
        let mut master = PicPorts::master(shared.clone());
        let mut elcr = PicPorts::elcr(shared.clone());
        master.write(1, &[0x5A]);
        elcr.write(0, &[0xFF, 0xFF]);
        let mut b = [0u8; 4];
        master.read(0, &mut b);
        assert_eq!(b, [0, 0x5A, 0xFF, 0xFF]);
        elcr.read(0, &mut b[..2]);
        assert_eq!(&b[..2], &[0xF8, 0xDE]);
        master.write(u64::MAX, &[1, 2]);
        PicPin::new(shared.clone(), 99).set_level(true);
        assert_eq!(shared.lock().read(0x21), 0x5A);
    }
}
